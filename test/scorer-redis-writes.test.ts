// The scorer's batched Redis writes (services/scorer/src/redis-batch.ts, sent on a connection of
// their own: redis-pipeline.ts) against the real Redis: every write lands as the command would
// have written it, in order, with split member lists; a connection Redis closed (a restart, a
// failover) is opened again for the next batch; a failing write rejects the batch and the next
// one goes on a new connection; a password and a database from the client's URL are used.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { Redis } from 'ioredis'
import { loadScorerConfig } from '../services/scorer/src/scorer-config.js'
import { createWriteBatch } from '../services/scorer/src/redis-batch.js'
import { RedisPipeline, targetOf } from '../services/scorer/src/redis-pipeline.js'
import { uniqueFleetPrefix } from './helpers/cars.js'

const p = uniqueFleetPrefix('rwb')
let redis: Redis
let pipeline: RedisPipeline
const ready = (r: Redis) => r.status === 'ready' ? Promise.resolve() : new Promise(resolve => r.once('ready', resolve))
before(async () => {
  redis = new Redis(loadScorerConfig().redisUrl)
  await ready(redis)
  pipeline = new RedisPipeline(() => targetOf(redis))
})
after(async () => {
  pipeline.close()
  const keys = await redis.keys(`${p}*`)
  if (keys.length > 0) await redis.del(...keys)
  redis.disconnect()
})

/** The batch connection's id at Redis (its last command was a write of `key`). */
async function pipelineClientId (): Promise<string> {
  const list = await redis.client('LIST') as string
  const line = list.split('\n').find(l => / cmd=(hset|lpush|expire|zadd|sadd|srem|ltrim) /.test(l))
  assert.ok(line !== undefined, `no batch connection in CLIENT LIST:\n${list}`)
  return /\bid=(\d+)/.exec(line)![1]!
}

test('every kind of write lands, in order, in one pipeline', async () => {
  const b = createWriteBatch()
  const cars = 2_000
  const ranking: Array<string | number> = []
  for (let i = 0; i < cars; i++) {
    b.hset(`${p}:h:${i}`, 'telemetry', `{"seq":${i}}`, 'seq', String(i))
    b.expire(`${p}:h:${i}`, 600)
    ranking.push(i / 10, `car-${i}`)
  }
  b.zadd(`${p}:z`, ranking)
  b.sadd(`${p}:s`, ...Array.from({ length: 1_200 }, (_, i) => `car-${i}`))
  b.srem(`${p}:s`, 'car-0', 'car-1')
  b.lpush(`${p}:l`, 'a', 'b', 'c')
  b.lpush(`${p}:l`, 'd')
  b.ltrim(`${p}:l`, 0, 2)
  // 1,200 SADD members go as three commands of at most 512.
  assert.equal(b.writes, 2 * cars + 4 + 3 + 1 + 3)
  await b.send(pipeline)
  assert.deepEqual(await redis.hgetall(`${p}:h:1234`), { telemetry: '{"seq":1234}', seq: '1234' })
  const ttl = await redis.ttl(`${p}:h:${cars - 1}`)
  assert.ok(ttl > 590 && ttl <= 600, `TTL ${ttl}`)
  assert.equal(await redis.zcard(`${p}:z`), cars)
  assert.equal(Number(await redis.zscore(`${p}:z`, 'car-1999')), 199.9)
  assert.equal(await redis.scard(`${p}:s`), 1_198)
  assert.deepEqual(await redis.lrange(`${p}:l`, 0, -1), ['d', 'c', 'b'])
  // A batch is spent once sent.
  await b.send(pipeline)
  assert.equal(await redis.llen(`${p}:l`), 3)
})

test('bytes and numbers land as the text they stand for', async () => {
  const b = createWriteBatch()
  const telemetry = Buffer.from('{"vehicleId":"car-1","speedMps":12.5}')
  b.hset(`${p}:bytes`, 'telemetry', telemetry, 'seq', 42, 'ts', 1_760_000_000_123, 'score', 0.1234, 'neg', -1.5, 'name', 'naïve')
  await b.send(pipeline)
  assert.deepEqual(await redis.hgetall(`${p}:bytes`), { telemetry: telemetry.toString(), seq: '42', ts: '1760000000123', score: '0.1234', neg: '-1.5', name: 'naïve' })
})

test('a connection Redis closed (a restart, a failover) is opened again for the next batch', async () => {
  const first = createWriteBatch()
  first.hset(`${p}:k1`, 'v', '1')
  await first.send(pipeline)
  const id = await pipelineClientId()
  assert.equal(await redis.client('KILL', 'ID', id), 1)
  // The close reaches the pipeline a moment later; a batch sent before that fails, never hangs.
  const deadline = Date.now() + 5_000
  for (;;) {
    const b = createWriteBatch()
    b.hset(`${p}:k2`, 'v', '2')
    const err = await b.send(pipeline).then(() => null, (e: Error) => e)
    if (err === null) break
    assert.match(err.message, /^redis: /)
    assert.ok(Date.now() < deadline, 'no batch landed within 5 s of the connection being closed')
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  assert.equal(await redis.hget(`${p}:k2`, 'v'), '2')
  assert.notEqual(await pipelineClientId(), id, 'a new connection')
})

test('a write Redis refuses rejects the batch; the writes around it land; the next batch goes on', async () => {
  await redis.rpush(`${p}:list`, 'x')
  const b = createWriteBatch()
  b.hset(`${p}:ok`, 'v', '1')
  b.hset(`${p}:list`, 'v', '1')
  b.hset(`${p}:after`, 'v', '1')
  await assert.rejects(b.send(pipeline), /^Error: WRONGTYPE/)
  // Redis runs each command of a pipeline on its own (as it did each of the script's calls
  // before the failing one): the batch is retried whole, and these writes are idempotent.
  assert.equal(await redis.hget(`${p}:ok`, 'v'), '1')
  assert.equal(await redis.hget(`${p}:after`, 'v'), '1')
  const next = createWriteBatch()
  next.hset(`${p}:next`, 'v', '1')
  await next.send(pipeline)
  assert.equal(await redis.hget(`${p}:next`, 'v'), '1')
})

test("the client's user, password and database are the batch connection's too", async () => {
  const user = `${p}-user`
  await redis.acl('SETUSER', user, 'on', '>s3cret-pw', `~${p}*`, '+@all')
  const other = new Redis(`${loadScorerConfig().redisUrl.replace('redis://', `redis://${user}:s3cret-pw@`)}/3`)
  try {
    await ready(other)
    const own = new RedisPipeline(() => targetOf(other))
    const b = createWriteBatch()
    b.hset(`${p}:db3`, 'v', 'in 3')
    await b.send(own)
    own.close()
    assert.equal(await other.hget(`${p}:db3`, 'v'), 'in 3')
    assert.equal(await redis.exists(`${p}:db3`), 0, 'not in database 0')
    await other.del(`${p}:db3`)
    // The same user with a wrong password: the batch fails with Redis' answer, it does not hang.
    const wrong = new RedisPipeline(() => ({ ...targetOf(other)!, password: 'wrong' }))
    const c = createWriteBatch()
    c.hset(`${p}:db3`, 'v', 'x')
    await assert.rejects(c.send(wrong), /WRONGPASS/)
    wrong.close()
  } finally {
    other.disconnect()
    await redis.acl('DELUSER', user)
  }
})

test('no batch is sent while the client is not connected', async () => {
  const idle = new Redis(loadScorerConfig().redisUrl, { lazyConnect: true })
  const own = new RedisPipeline(() => targetOf(idle))
  const b = createWriteBatch()
  b.hset(`${p}:never`, 'v', '1')
  await assert.rejects(b.send(own), /redis: not connected/)
  assert.equal(await redis.exists(`${p}:never`), 0)
})
