// The scorer's batched Redis writes (services/scorer/src/redis-batch.ts) against the real Redis:
// every write lands as the command would have written it, across several script calls and split
// member lists; a Redis that lost the script (restart, failover) gets it again; a failing write
// rejects the batch; the script runs nothing but the write commands it lists.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { Redis } from 'ioredis'
import { loadScorerConfig } from '../services/scorer/src/scorer-config.js'
import { createWriteBatch, MAX_ARGS, WRITE_SCRIPT } from '../services/scorer/src/redis-batch.js'
import { uniqueFleetPrefix } from './helpers/cars.js'

const p = uniqueFleetPrefix('rwb')
let redis: Redis
before(() => { redis = new Redis(loadScorerConfig().redisUrl) })
after(async () => {
  const keys = await redis.keys(`${p}*`)
  if (keys.length > 0) await redis.del(...keys)
  redis.disconnect()
})

test('every kind of write lands, in order, across several script calls', async () => {
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
  // 2,000 HSETs of 4 arguments and 2,000 EXPIREs are more than one call's MAX_ARGS.
  assert.ok(cars * (6 + 3) > MAX_ARGS)
  assert.equal(b.writes, 2 * cars + 4 + 3 + 1 + 3)
  await b.send(redis)
  assert.deepEqual(await redis.hgetall(`${p}:h:1234`), { telemetry: '{"seq":1234}', seq: '1234' })
  const ttl = await redis.ttl(`${p}:h:${cars - 1}`)
  assert.ok(ttl > 590 && ttl <= 600, `TTL ${ttl}`)
  assert.equal(await redis.zcard(`${p}:z`), cars)
  assert.equal(Number(await redis.zscore(`${p}:z`, 'car-1999')), 199.9)
  assert.equal(await redis.scard(`${p}:s`), 1_198)
  assert.deepEqual(await redis.lrange(`${p}:l`, 0, -1), ['d', 'c', 'b'])
  // A batch is spent once sent.
  await b.send(redis)
  assert.equal(await redis.llen(`${p}:l`), 3)
})

test('bytes and numbers land as the text they stand for', async () => {
  const b = createWriteBatch()
  const telemetry = Buffer.from('{"vehicleId":"car-1","speedMps":12.5}')
  b.hset(`${p}:bytes`, 'telemetry', telemetry, 'seq', 42, 'ts', 1_760_000_000_123, 'score', 0.1234, 'neg', -1.5, 'name', 'naïve')
  await b.send(redis)
  assert.deepEqual(await redis.hgetall(`${p}:bytes`), { telemetry: telemetry.toString(), seq: '42', ts: '1760000000123', score: '0.1234', neg: '-1.5', name: 'naïve' })
})

test('a Redis that lost the script (restarted, failed over) is sent it again', async () => {
  await redis.script('FLUSH')
  const b = createWriteBatch()
  for (let i = 0; i < 3_000; i++) b.hset(`${p}:f:${i}`, 'v', String(i))
  await b.send(redis)
  assert.equal(await redis.hget(`${p}:f:2999`, 'v'), '2999')
})

test('a write Redis refuses rejects the batch', async () => {
  await redis.rpush(`${p}:list`, 'x')
  const b = createWriteBatch()
  b.hset(`${p}:ok`, 'v', '1')
  b.hset(`${p}:list`, 'v', '1')
  await assert.rejects(b.send(redis), /WRONGTYPE/)
})

test('the script runs only the write commands it lists', async () => {
  await redis.set(`${p}:keep`, '1')
  await assert.rejects(redis.eval(WRITE_SCRIPT, 1, `${p}:keep`, 'DEL', '0'), /command not allowed: DEL/)
  await assert.rejects(redis.eval(WRITE_SCRIPT, 1, `${p}:keep`, 'HSET', 'x'), /not allowed/)
  assert.equal(await redis.get(`${p}:keep`), '1')
})
