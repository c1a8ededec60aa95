// The operations api against the real Kafka and Redis (no broker needed here): authentication
// and roles, problem+json for every kind of bad input, command creation with Idempotency-Key,
// vehicles from what the broker and scorer keep in Redis, the anomaly feed and its live stream,
// the fleet summary, OpenAPI, request ids and rate limits.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { Redis } from 'ioredis'
import { Partitioners, type Producer } from 'kafkajs'
import type { Anomaly } from '../services/shared/src/anomaly-schema.js'
import { ONLINE_VEHICLES_KEY, presenceKey } from '../services/shared/src/presence.js'
import { KafkaTopics } from '../services/shared/src/topics.js'
import { REVOKED_VEHICLES_KEY, vehicleKey } from '../services/shared/src/vehicle-credentials.js'
import { ANOMALOUS_KEY, SCORES_KEY, vehicleAnomaliesKey, vehicleStateFields, vehicleStateKey } from '../services/shared/src/vehicle-state.js'
import { commandKey, vehicleCommandsKey } from '../services/shared/src/command-store.js'
import { KNOWN_VEHICLES_KEY } from '../services/shared/src/vehicle-index.js'
import { OPERATOR_KEY, READER_KEY, signJwt, startTestApi, type TestApi } from './helpers/api.js'
import { uniqueFleetPrefix } from './helpers/cars.js'
import { collect, testKafka, type Collector } from './helpers/kafka.js'

const p = uniqueFleetPrefix('api')
const cars = { online: `${p}-a`, anomalous: `${p}-b`, revoked: `${p}-c` }
const COMMAND_LIMIT = 40
const SHA = 'a'.repeat(64)
let t: TestApi
let redis: Redis
let commands: Collector
let producer: Producer
const op = { 'x-api-key': OPERATOR_KEY }
const ro = { 'x-api-key': READER_KEY }

const inject = (method: 'GET' | 'POST' | 'DELETE', url: string, opts: { headers?: Record<string, string>, payload?: unknown } = {}) =>
  t.api.app.inject({ method, url, headers: opts.headers ?? op, ...(opts.payload === undefined ? {} : { payload: opts.payload as string }) })

function assertProblem (res: { statusCode: number, headers: Record<string, unknown>, json: () => unknown }, status: number, code?: string) {
  assert.equal(res.statusCode, status)
  assert.match(String(res.headers['content-type']), /^application\/problem\+json/)
  const body = res.json() as { status: number, code: string, detail: string, requestId: string, title: string }
  assert.equal(body.status, status)
  if (code !== undefined) assert.equal(body.code, code)
  assert.ok(body.detail.length > 0)
  assert.equal(body.requestId, res.headers['x-request-id'])
  return body
}

const anomaly = (vehicleId: string, seq: number): Anomaly => ({
  vehicleId,
  seq,
  ts: Date.now(),
  scoredAt: new Date().toISOString(),
  score: 3.5,
  rowScore: 4,
  threshold: 1,
  anomalous: true,
  modelVersion: 'test',
  topFeatures: [{ feature: 'coolantTempC', share: 0.8 }],
  failureModeGuess: 'coolant_leak',
  source: { partition: 0, offset: '0' }
})

before(async () => {
  t = await startTestApi({ FLEET_API_SAMPLE_INTERVAL_MS: '300', FLEET_API_COMMAND_RATE_LIMIT_PER_MIN: String(COMMAND_LIMIT), FLEET_API_BODY_LIMIT_BYTES: '4096' })
  redis = new Redis(t.config.redisUrl)
  const now = new Date().toISOString()
  const state = (score: number, anomalous: boolean) => vehicleStateFields({
    telemetry: JSON.stringify({ vehicleId: 'x', speedMps: 12.5, coolantTempC: anomalous ? 118 : 90 }),
    seq: 41,
    ts: Date.now(),
    score,
    rowScore: score,
    threshold: 1,
    anomalous,
    failureMode: anomalous ? 'coolant_leak' : null,
    modelVersion: 'test',
    scoredAt: now
  })
  await redis.multi()
    .hset(vehicleKey(cars.online), 'provisionedAt', now)
    .hset(presenceKey(cars.online), 'online', '1', 'brokerId', 'b1', 'conn', 'x', 'since', now)
    .sadd(ONLINE_VEHICLES_KEY, cars.online)
    .hset(vehicleStateKey(cars.online), state(0.2, false))
    .zadd(SCORES_KEY, 0.2, cars.online)
    .hset(presenceKey(cars.anomalous), 'online', '0', 'brokerId', 'b1', 'conn', 'y', 'since', now)
    .hset(vehicleStateKey(cars.anomalous), state(5, true))
    .zadd(SCORES_KEY, 5, cars.anomalous)
    .sadd(ANOMALOUS_KEY, cars.anomalous)
    .lpush(vehicleAnomaliesKey(cars.anomalous), JSON.stringify(anomaly(cars.anomalous, 40)))
    .hset(vehicleKey(cars.revoked), 'provisionedAt', now, 'revokedAt', now)
    .sadd(REVOKED_VEHICLES_KEY, cars.revoked)
    // as provisioning, the broker pods and the scorer do when a car becomes known
    .zadd(KNOWN_VEHICLES_KEY, 0, cars.online, 0, cars.anomalous, 0, cars.revoked)
    .exec()
  commands = await collect(KafkaTopics.commands, key => key.startsWith(p))
  producer = testKafka().producer({ createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
})

after(async () => {
  const ids = Object.values(cars)
  const listed = (await Promise.all(ids.map(id => redis.zrange(vehicleCommandsKey(id), 0, -1)))).flat()
  await redis.multi()
    .del(...ids.flatMap(id => [vehicleKey(id), presenceKey(id), vehicleStateKey(id), vehicleAnomaliesKey(id), vehicleCommandsKey(id)]), ...listed.map(commandKey))
    .srem(ONLINE_VEHICLES_KEY, ...ids).srem(ANOMALOUS_KEY, ...ids).srem(REVOKED_VEHICLES_KEY, ...ids).zrem(SCORES_KEY, ...ids).zrem(KNOWN_VEHICLES_KEY, ...ids)
    .zrem('fleet:commands:expiring', '-', ...listed)
    .exec()
  redis?.disconnect()
  await commands?.stop()
  await producer?.disconnect()
  await t?.stop()
})

test('only /healthz and /readyz are open; everything else answers 401 problem+json with a Basic challenge', async () => {
  for (const url of ['/healthz', '/readyz']) assert.equal((await inject('GET', url, { headers: {} })).statusCode, 200, url)
  assert.equal((await inject('GET', '/metrics', { headers: {} })).statusCode, 404, '/metrics is on the ops port only')
  for (const url of ['/v1/vehicles', `/v1/vehicles/${cars.online}`, '/v1/anomalies', '/v1/fleet/summary', '/v1/stream', '/dashboard', '/dashboard/app.js', '/docs', '/docs/json', '/']) {
    const res = await inject('GET', url, { headers: {} })
    assertProblem(res, 401, 'unauthorized')
    assert.match(String(res.headers['www-authenticate']), /^Basic realm="fleet"/, url)
  }
  assertProblem(await inject('POST', `/v1/vehicles/${cars.online}/commands`, { headers: {}, payload: { type: 'lock' } }), 401, 'unauthorized')
  assertProblem(await inject('GET', '/v1/vehicles', { headers: { 'x-api-key': 'not-a-valid-key-at-all' } }), 401, 'invalid_credentials')
  assertProblem(await inject('GET', '/v1/vehicles', { headers: { authorization: 'Bearer not-a-valid-key-at-all' } }), 401, 'invalid_credentials')
  assertProblem(await inject('GET', '/v1/vehicles', { headers: { authorization: 'Digest abc' } }), 401, 'invalid_credentials')
  // the same key works in each of the three ways
  const ways: Array<Record<string, string>> = [{ 'x-api-key': READER_KEY }, { authorization: `Bearer ${READER_KEY}` }, { authorization: `Basic ${Buffer.from(`anyone:${READER_KEY}`).toString('base64')}` }]
  for (const headers of ways) {
    assert.equal((await inject('GET', '/v1/fleet/summary', { headers })).statusCode, 200)
  }
  assert.equal((await inject('GET', '/docs', { headers: ro })).statusCode, 200)
})

test('a read-only key reads but cannot send commands (403 problem+json)', async () => {
  assert.equal((await inject('GET', `/v1/vehicles/${cars.online}`, { headers: ro })).statusCode, 200)
  const body = assertProblem(await inject('POST', `/v1/vehicles/${cars.online}/commands`, { headers: ro, payload: { type: 'lock' } }), 403, 'forbidden')
  assert.match(body.detail, /read-only/)
})

test('JWTs: role claim decides; bad signature or expiry is 401, no role is 403', async () => {
  const exp = Math.floor(Date.now() / 1000) + 60
  const operator = await signJwt({ sub: 'alice', role: 'operator', exp })
  const viewer = await signJwt({ sub: 'bob', role: 'read-only', exp })
  const res = await inject('POST', `/v1/vehicles/${cars.online}/commands`, { headers: { authorization: `Bearer ${operator}` }, payload: { type: 'lock' } })
  assert.equal(res.statusCode, 201)
  assert.equal(res.json().requestedBy, 'jwt:alice')
  assertProblem(await inject('POST', `/v1/vehicles/${cars.online}/commands`, { headers: { authorization: `Bearer ${viewer}` }, payload: { type: 'lock' } }), 403, 'forbidden')
  assert.equal((await inject('GET', '/v1/vehicles?limit=1', { headers: { authorization: `Bearer ${viewer}` } })).statusCode, 200)
  assertProblem(await inject('GET', '/v1/vehicles', { headers: { authorization: `Bearer ${await signJwt({ sub: 'x', role: 'operator', exp: exp - 120 })}` } }), 401, 'invalid_credentials')
  assertProblem(await inject('GET', '/v1/vehicles', { headers: { authorization: `Bearer ${await signJwt({ sub: 'x', role: 'operator', exp }, 'another-secret-another-secret-another')}` } }), 401, 'invalid_credentials')
  assertProblem(await inject('GET', '/v1/vehicles', { headers: { authorization: `Bearer ${await signJwt({ sub: 'x', role: 'admin', exp })}` } }), 403, 'forbidden')
  assertProblem(await inject('GET', '/v1/vehicles', { headers: { authorization: `Bearer ${await signJwt({ sub: 'x', role: 'operator' })}` } }), 401, 'invalid_credentials') // no exp
  const none = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: 'x', role: 'operator', exp })).toString('base64url')}.`
  assertProblem(await inject('GET', '/v1/vehicles', { headers: { authorization: `Bearer ${none}` } }), 401, 'invalid_credentials')
})

test('bad input is a 4xx problem+json that says what is wrong, never a 500', async () => {
  const url = `/v1/vehicles/${cars.online}/commands`
  const cases: Array<[string, { method?: 'GET' | 'POST', url?: string, payload?: unknown, headers?: Record<string, string> }, number, RegExp]> = [
    ['unknown vehicle', { url: `/v1/vehicles/${p}-nobody/commands`, payload: { type: 'lock' } }, 404, /not known/],
    ['unknown vehicle detail', { method: 'GET', url: `/v1/vehicles/${p}-nobody` }, 404, /not known/],
    ['unknown command', { method: 'GET', url: `/v1/vehicles/${cars.online}/commands/nope` }, 404, /no command/],
    ['invalid vehicle id', { url: '/v1/vehicles/bad%20id/commands', payload: { type: 'lock' } }, 400, /params\/vehicleId/],
    ['unknown type', { payload: { type: 'self-destruct' } }, 400, /type must be one of lock, unlock/],
    ['missing type', { payload: { params: {} } }, 400, /type/],
    ['param out of range', { payload: { type: 'flash-lights', params: { times: 99 } } }, 400, /params\/times must be <= 20/],
    ['param of the wrong type', { payload: { type: 'flash-lights', params: { times: '3' } } }, 400, /params\/times must be integer/],
    ['missing required params', { payload: { type: 'set-telemetry-interval' } }, 400, /params/],
    ['bad OTA version', { payload: { type: 'ota-update', params: { version: 'latest', url: 'https://updates.example/fw.bin', sha256: SHA } } }, 400, /params\/version must match pattern/],
    ['OTA url not http(s)', { payload: { type: 'ota-update', params: { version: '1.2.3', url: 'javascript:alert(1)', sha256: SHA } } }, 400, /params\/url/],
    ['OTA url over http', { payload: { type: 'ota-update', params: { version: '1.2.3', url: 'http://updates.example/fw.bin', sha256: SHA } } }, 400, /params\/url must match pattern/],
    ['OTA without url', { payload: { type: 'ota-update', params: { version: '1.2.3', sha256: SHA } } }, 400, /params must have required property 'url'/],
    ['OTA without digest', { payload: { type: 'ota-update', params: { version: '1.2.3', url: 'https://updates.example/fw.bin' } } }, 400, /params must have required property 'sha256'/],
    ['OTA digest not SHA-256', { payload: { type: 'ota-update', params: { version: '1.2.3', url: 'https://updates.example/fw.bin', sha256: SHA.slice(0, 40) } } }, 400, /params\/sha256 must match pattern/],
    ['params on lock', { payload: { type: 'lock', params: { force: true } } }, 400, /additional properties/],
    ['unknown field', { payload: { type: 'lock', priority: 'high' } }, 400, /additional properties/],
    ['ttl too long', { payload: { type: 'lock', ttlSeconds: 10_000_000 } }, 400, /ttlSeconds/],
    ['ttl as string', { payload: { type: 'lock', ttlSeconds: '60' } }, 400, /ttlSeconds must be integer/],
    ['body is an array', { payload: [{ type: 'lock' }] }, 400, /body/],
    ['body is not JSON', { payload: '{"type": "lock"', headers: { ...op, 'content-type': 'application/json' } }, 400, /JSON/i],
    ['empty JSON body', { payload: '', headers: { ...op, 'content-type': 'application/json' } }, 400, /empty/i],
    ['form body', { payload: 'type=lock', headers: { ...op, 'content-type': 'application/x-www-form-urlencoded' } }, 415, /content-type/i],
    ['huge body', { payload: { type: 'request-diagnostics', params: { reason: 'x'.repeat(10_000) } } }, 413, /body/i],
    ['bad idempotency key', { payload: { type: 'lock' }, headers: { ...op, 'idempotency-key': 'two words' } }, 400, /idempotency-key/],
    ['waitSeconds not a number', { method: 'GET', url: `/v1/vehicles/${cars.online}/commands/x?waitSeconds=soon` }, 400, /waitSeconds/],
    ['limit too big', { method: 'GET', url: '/v1/vehicles?limit=100000' }, 400, /limit/],
    ['online not a boolean', { method: 'GET', url: '/v1/vehicles?online=maybe' }, 400, /online/],
    ['forged cursor', { method: 'GET', url: '/v1/vehicles?cursor=AAAA' }, 400, /cursor/],
    ['unknown route', { method: 'GET', url: '/v1/teleport' }, 404, /no route/]
  ]
  for (const [name, c, status, detail] of cases) {
    const res = await inject(c.method ?? 'POST', c.url ?? url, { headers: c.headers ?? op, ...(c.payload === undefined ? {} : { payload: c.payload }) })
    assert.equal(res.statusCode, status, `${name}: ${res.body}`)
    const body = assertProblem(res, status)
    assert.match(body.detail + JSON.stringify((body as { errors?: unknown }).errors ?? ''), detail, `${name}: ${body.detail}`)
  }
})

test('a command is stored pending and queued on vehicle.commands; GET and the list show it', async () => {
  const res = await inject('POST', `/v1/vehicles/${cars.online}/commands`, { payload: { type: 'flash-lights', ttlSeconds: 120 } })
  assert.equal(res.statusCode, 201)
  const rec = res.json()
  assert.equal(rec.status, 'pending')
  assert.deepEqual(rec.params, { times: 3 }, 'defaults filled in')
  assert.equal(rec.requestedBy, 'ops')
  assert.equal(Date.parse(rec.expiresAt) - Date.parse(rec.createdAt), 120_000)
  assert.equal(res.headers.location, `/v1/vehicles/${cars.online}/commands/${rec.commandId}`)
  await commands.waitFor(r => r.some(x => JSON.parse(x.value.toString()).commandId === rec.commandId), 10_000)
  const queued = commands.records.find(x => JSON.parse(x.value.toString()).commandId === rec.commandId)!
  assert.equal(queued.key, cars.online)
  assert.deepEqual(JSON.parse(queued.value.toString()), { commandId: rec.commandId, vehicleId: cars.online, type: 'flash-lights', params: { times: 3 }, createdAt: rec.createdAt, expiresAt: rec.expiresAt })
  const got = await inject('GET', `/v1/vehicles/${cars.online}/commands/${rec.commandId}`, { headers: ro })
  assert.equal(got.json().commandId, rec.commandId)
  assert.deepEqual(got.json().history.map((h: { status: string }) => h.status), ['pending'])
  // long-poll with nothing happening answers after the wait with the record as it is
  const started = Date.now()
  const waited = await inject('GET', `/v1/vehicles/${cars.online}/commands/${rec.commandId}?waitSeconds=1`, { headers: ro })
  assert.ok(Date.now() - started >= 900)
  assert.equal(waited.json().status, 'pending')
  // another car's path does not reveal it
  assertProblem(await inject('GET', `/v1/vehicles/${cars.anomalous}/commands/${rec.commandId}`), 404, 'not_found')
  const ota = await inject('POST', `/v1/vehicles/${cars.online}/commands`, { payload: { type: 'ota-update', params: { version: '1.2.3', url: 'https://updates.example/fw/1.2.3.bin', sha256: SHA } } })
  assert.equal(ota.statusCode, 201, 'an https OTA with its SHA-256 is accepted')
  const second = (await inject('POST', `/v1/vehicles/${cars.online}/commands`, { payload: { type: 'unlock' } })).json()
  const list = await inject('GET', `/v1/vehicles/${cars.online}/commands?limit=1`, { headers: ro })
  assert.deepEqual(list.json().items.map((c: { commandId: string }) => c.commandId), [second.commandId])
  const next = await inject('GET', `/v1/vehicles/${cars.online}/commands?limit=10&before=${list.json().nextBefore}`, { headers: ro })
  assert.ok(next.json().items.some((c: { commandId: string }) => c.commandId === rec.commandId))
})

test('Idempotency-Key: the same request again returns the first command; a different request with the key is 422', async () => {
  const headers = { ...op, 'idempotency-key': `${p}-k1` }
  const url = `/v1/vehicles/${cars.online}/commands`
  const first = await inject('POST', url, { headers, payload: { type: 'flash-lights', params: { times: 2 } } })
  assert.equal(first.statusCode, 201)
  // same body, keys in another order and with the default made explicit: the same request
  const again = await inject('POST', url, { headers, payload: { params: { times: 2 }, type: 'flash-lights' } })
  assert.equal(again.statusCode, 200)
  assert.equal(again.headers['idempotent-replayed'], 'true')
  assert.equal(again.json().commandId, first.json().commandId)
  assertProblem(await inject('POST', url, { headers, payload: { type: 'flash-lights', params: { times: 5 } } }), 422, 'idempotency_key_reused')
  // keys are per principal: another operator's same key is a new command
  const exp = Math.floor(Date.now() / 1000) + 60
  const other = await inject('POST', url, { headers: { authorization: `Bearer ${await signJwt({ sub: 'carol', role: 'operator', exp })}`, 'idempotency-key': `${p}-k1` }, payload: { type: 'flash-lights', params: { times: 2 } } })
  assert.equal(other.statusCode, 201)
  assert.notEqual(other.json().commandId, first.json().commandId)
  // concurrent duplicates make one command
  const k2 = { ...op, 'idempotency-key': `${p}-k2` }
  const results = await Promise.all([1, 2, 3, 4].map(() => inject('POST', url, { headers: k2, payload: { type: 'lock' } })))
  assert.equal(new Set(results.map(r => r.json().commandId)).size, 1)
  assert.deepEqual(results.map(r => r.statusCode).sort(), [200, 200, 200, 201])
})

test('a revoked car gets no commands (409)', async () => {
  assertProblem(await inject('POST', `/v1/vehicles/${cars.revoked}/commands`, { payload: { type: 'lock' } }), 409, 'vehicle_revoked')
})

test('requests from another origin that change things are refused', async () => {
  assertProblem(await inject('POST', `/v1/vehicles/${cars.online}/commands`, { headers: { ...op, origin: 'https://evil.example' }, payload: { type: 'lock' } }), 403, 'cross_origin')
})

test('vehicles: detail from presence, provisioning and the scorer\'s state; list filters and pages', async () => {
  const d = (await inject('GET', `/v1/vehicles/${cars.anomalous}`, { headers: ro })).json()
  assert.equal(d.online, false)
  assert.equal(d.anomalous, true)
  assert.equal(d.score, 5)
  assert.equal(d.failureMode, 'coolant_leak')
  assert.equal(d.telemetry.coolantTempC, 118)
  assert.equal(d.seq, 41)
  assert.equal(d.recentAnomalies.length, 1)
  const a = (await inject('GET', `/v1/vehicles/${cars.online}`, { headers: ro })).json()
  assert.equal(a.online, true)
  assert.equal(a.brokerId, 'b1')
  assert.equal(a.provisioned, true)
  assert.ok(a.recentCommands.length >= 1)
  const r = (await inject('GET', `/v1/vehicles/${cars.revoked}`, { headers: ro })).json()
  assert.equal(r.revoked, true)

  // Redis may hold other cars (another test's, a soak's 100,000): look at this test's own only,
  // walking the pages from just before its prefix until past it.
  const ours = async (query: string, limit: number) => {
    const rows: Array<{ vehicleId: string, online: boolean, anomalous: boolean }> = []
    let cursor: string | null = Buffer.from(JSON.stringify({ after: p })).toString('base64url')
    for (let pages = 0; cursor !== null && pages < 100; pages++) {
      const page: { items: typeof rows, nextCursor: string | null } = (await inject('GET', `/v1/vehicles?${query}&limit=${limit}&cursor=${cursor}`, { headers: ro })).json()
      assert.ok(page.items.length <= limit)
      rows.push(...page.items.filter(v => v.vehicleId.startsWith(p)))
      if (page.items.some(v => v.vehicleId > `${p}~`)) break
      cursor = page.nextCursor
    }
    return rows
  }
  const online = await ours('online=true', 500)
  assert.deepEqual(online.map(v => v.vehicleId), [cars.online])
  assert.ok(online.every(v => v.online))
  const anomalous = await ours('anomalous=true', 500)
  assert.deepEqual(anomalous.map(v => v.vehicleId), [cars.anomalous])
  const calm = await ours('anomalous=false', 1)
  assert.deepEqual(calm.map(v => v.vehicleId), [cars.online, cars.revoked])
  // pages by id, two at a time: every one of our cars once, in id order, the list read straight from Redis
  assert.deepEqual((await ours('', 2)).map(v => v.vehicleId), [cars.online, cars.anomalous, cars.revoked].sort())

  // riskiest first: each of our scored cars where the ranking puts it, showing its latest score;
  // a page is read from a few ranks above the car (the cursor is an offset into the ranking)
  const placed = async (id: string) => {
    const from = Math.max(0, Number(await redis.zrevrank(SCORES_KEY, id)) - 3)
    const cursor = Buffer.from(JSON.stringify({ offset: from })).toString('base64url')
    const page: { items: Array<{ vehicleId: string, score: number }> } = (await inject('GET', `/v1/vehicles?sort=score&limit=10&cursor=${cursor}`, { headers: ro })).json()
    const at = page.items.findIndex(v => v.vehicleId === id)
    assert.ok(at >= 0, `${id} is on its page of the ranking`)
    return { position: from + at, score: page.items[at]!.score }
  }
  const [hot, calmCar] = [await placed(cars.anomalous), await placed(cars.online)]
  assert.deepEqual([hot.score, calmCar.score], [5, 0.2])
  assert.ok(hot.position < calmCar.position, 'the higher score ranks first')
})

test('a car provisioned after the api started is listed at once, and gone once decommissioned', async () => {
  const id = `${p}-late`
  assert.equal((await inject('POST', '/v1/vehicles/provision', { payload: { vehicleIds: [id] } })).statusCode, 201)
  const cursor = Buffer.from(JSON.stringify({ after: `${p}-b` })).toString('base64url')
  const page = (await inject('GET', `/v1/vehicles?limit=2&cursor=${cursor}`, { headers: ro })).json()
  assert.deepEqual(page.items.map((v: { vehicleId: string }) => v.vehicleId), [cars.revoked, id])
  assert.equal(page.items[1].provisioned, true)
  assert.equal((await inject('DELETE', `/v1/vehicles/${id}`)).statusCode, 204)
  const after = (await inject('GET', `/v1/vehicles?limit=2&cursor=${cursor}`, { headers: ro })).json()
  assert.ok(!after.items.some((v: { vehicleId: string }) => v.vehicleId === id), 'a decommissioned car leaves the list')
})

test('anomalies from vehicle.anomalies: in the feed and live on /v1/stream', async () => {
  const res = await fetch(`${t.url}/v1/stream`, { headers: ro })
  assert.equal(res.status, 200)
  assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/)
  assert.ok(res.headers.get('x-request-id'))
  const reader = res.body!.getReader()
  let text = ''
  const readUntil = async (re: RegExp, ms = 15_000) => {
    const deadline = Date.now() + ms
    while (!re.test(text)) {
      if (Date.now() > deadline) throw new Error(`stream did not show ${re}: ${text.slice(-500)}`)
      const chunk = await Promise.race([reader.read(), new Promise<null>(resolve => setTimeout(() => resolve(null), 500))])
      if (chunk !== null && chunk.value !== undefined) text += new TextDecoder().decode(chunk.value)
    }
  }
  await readUntil(/event: summary/)
  await producer.send({ topic: KafkaTopics.anomalies, messages: [{ key: cars.anomalous, value: JSON.stringify(anomaly(cars.anomalous, 42)) }] })
  await readUntil(new RegExp(`event: anomaly\\ndata: \\{"vehicleId":"${cars.anomalous}"`))
  await reader.cancel()
  const feed = (await inject('GET', `/v1/anomalies?vehicleId=${cars.anomalous}`, { headers: ro })).json()
  assert.equal(feed.items[0].seq, 42)
  assert.equal(feed.items[0].failureModeGuess, 'coolant_leak')
})

test('fleet summary: cars, messages/s, scores, anomalies, history', async () => {
  await new Promise(resolve => setTimeout(resolve, 700))
  const s = (await inject('GET', '/v1/fleet/summary', { headers: ro })).json()
  assert.ok(s.latest.vehicles.online >= 1)
  assert.ok(s.latest.vehicles.anomalous >= 1)
  assert.ok(s.latest.vehicles.known >= 3)
  assert.equal(typeof s.latest.messagesPerSecond, 'number')
  assert.ok(s.latest.scores.max >= 5)
  assert.ok(s.latest.anomalies.lastHour >= 1)
  assert.ok(s.history.length >= 2)
})

test('OpenAPI 3 describes the routes, their schemas and the security schemes', async () => {
  const doc = (await inject('GET', '/docs/json', { headers: ro })).json()
  assert.match(doc.openapi, /^3\./)
  for (const path of ['/v1/vehicles', '/v1/vehicles/{vehicleId}', '/v1/vehicles/{vehicleId}/commands', '/v1/vehicles/{vehicleId}/commands/{commandId}', '/v1/vehicles/{vehicleId}/commands/{commandId}/events', '/v1/anomalies', '/v1/fleet/summary', '/v1/stream']) {
    assert.ok(doc.paths[path], path)
  }
  assert.equal(doc.paths['/healthz'], undefined)
  const post = doc.paths['/v1/vehicles/{vehicleId}/commands'].post
  assert.ok(post.requestBody.content['application/json'].schema.oneOf.length >= 6)
  assert.ok(post.responses['403'] && post.responses['201'])
  assert.deepEqual(Object.keys(doc.components.securitySchemes).sort(), ['apiKey', 'basic', 'bearer'])
})

test('request ids: a sane X-Request-Id is kept, anything else replaced', async () => {
  const kept = await inject('GET', '/v1/fleet/summary', { headers: { ...ro, 'x-request-id': 'trace-123' } })
  assert.equal(kept.headers['x-request-id'], 'trace-123')
  const replaced = await inject('GET', '/v1/fleet/summary', { headers: { ...ro, 'x-request-id': 'bad id\nforged log line' } })
  assert.match(String(replaced.headers['x-request-id']), /^[0-9a-f-]{36}$/)
})

test('rate limit: past the per-minute budget for commands, 429 problem+json with Retry-After', async () => {
  let limited: Awaited<ReturnType<typeof inject>> | null = null
  for (let i = 0; i <= COMMAND_LIMIT && limited === null; i++) {
    const res = await inject('POST', `/v1/vehicles/${p}-nobody/commands`, { payload: { type: 'lock' } })
    if (res.statusCode === 429) limited = res
    else assert.equal(res.statusCode, 404)
  }
  assert.ok(limited !== null, 'limited')
  assertProblem(limited, 429, 'rate_limited')
  assert.ok(Number(limited.headers['retry-after']) > 0)
  // reads have their own, larger budget
  assert.equal((await inject('GET', '/v1/fleet/summary', { headers: ro })).statusCode, 200)
})
