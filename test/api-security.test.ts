// The api's defences against an internet client (issue #21 point 9), against the real Kafka and
// Redis: failed logins limited per address (429 + Retry-After), X-Forwarded-For believed only for
// the configured proxy hops, JWTs bound to issuer, audience and age, `Origin: null` refused, a
// stream reader that does not read dropped, and /metrics only on the ops port.
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { after, before, test } from 'node:test'
import { Redis } from 'ioredis'
import { COMMAND_UPDATES_CHANNEL } from '../services/shared/src/command-store.js'
import { JWT_AUDIENCE, OPERATOR_KEY, READER_KEY, signJwt, startTestApi, type TestApi } from './helpers/api.js'
import { uniqueFleetPrefix } from './helpers/cars.js'

const p = uniqueFleetPrefix('apisec')
const FAILURES = 5
let t: TestApi
let redis: Redis

before(async () => {
  t = await startTestApi({ FLEET_API_AUTH_FAILURES_PER_MIN: String(FAILURES), FLEET_API_TRUST_PROXY_HOPS: '1', FLEET_API_STREAM_BUFFER_BYTES: '65536' })
  redis = new Redis(t.config.redisUrl)
})

after(async () => {
  redis?.disconnect()
  await t?.stop()
})

type Headers = Record<string, string>
const get = (url: string, headers: Headers, remoteAddress: string) => t.api.app.inject({ method: 'GET', url, headers, remoteAddress })
/** A counter's value from the ops port's /metrics (0 when not there yet); `label` like reason="limited". */
const metric = async (name: string, label = '') => {
  const text = await (await fetch(`http://127.0.0.1:${t.opsPort}/metrics`)).text()
  const line = text.split('\n').find(l => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && l.includes(label))
  return line === undefined ? 0 : Number(line.split(' ').pop())
}

test('/metrics is served on the ops port only, not on the public api port', async () => {
  for (const headers of [{}, { 'x-api-key': OPERATOR_KEY }] as Headers[]) {
    const res = await get('/metrics', headers, '10.0.0.9')
    assert.notEqual(res.statusCode, 200)
    assert.ok(!res.body.includes('fleet_api_request_seconds'), 'no metrics in the answer')
  }
  const ops = await fetch(`http://127.0.0.1:${t.opsPort}/metrics`)
  assert.equal(ops.status, 200)
  assert.match(await ops.text(), /fleet_api_request_seconds/)
  assert.equal((await get('/healthz', {}, '10.0.0.9')).statusCode, 200, 'health stays on the api port for load balancers')
})

test('failed logins: past the budget an address gets 429 with Retry-After (even with a right key); other addresses go on; counted', async () => {
  const before = await metric('fleet_api_auth_failures_total', 'reason="limited"')
  const codes: number[] = []
  for (let i = 0; i < 200 && !codes.includes(429); i++) codes.push((await get('/v1/vehicles', { 'x-api-key': `wrong-key-${i}-0123456789` }, '10.0.0.1')).statusCode)
  assert.deepEqual(codes, [...Array(FAILURES).fill(401), 429], `answers: ${codes.join(',')}`)
  const limited = await get('/v1/vehicles', { 'x-api-key': READER_KEY }, '10.0.0.1')
  assert.equal(limited.statusCode, 429)
  assert.equal(limited.json().code, 'rate_limited')
  const retry = Number(limited.headers['retry-after'])
  assert.ok(retry >= 1 && retry <= 60, `Retry-After ${retry}`)
  assert.equal((await get('/v1/vehicles', { 'x-api-key': READER_KEY }, '10.0.0.2')).statusCode, 200)
  assert.ok(await metric('fleet_api_auth_failures_total', 'reason="invalid_key"') >= FAILURES)
  assert.equal(await metric('fleet_api_auth_failures_total', 'reason="limited"') - before, 2)
})

test('X-Forwarded-For: only the configured proxy hop is believed, so a forged leftmost entry does not escape the limit', async () => {
  // One trusted hop: the proxy (the TCP peer) appends the client's address; what the client put
  // in front of it is not believed.
  const client = '198.51.100.7'
  for (let i = 0; i < FAILURES; i++) {
    const res = await get('/v1/vehicles', { 'x-api-key': `wrong-key-${i}-0123456789`, 'x-forwarded-for': `203.0.113.${i}, ${client}` }, '10.0.1.1')
    assert.equal(res.statusCode, 401)
  }
  const forged = await get('/v1/vehicles', { 'x-api-key': READER_KEY, 'x-forwarded-for': `203.0.113.99, ${client}` }, '10.0.1.2')
  assert.equal(forged.statusCode, 429, 'the same client through another proxy, with another forged entry, is still limited')
  assert.equal((await get('/v1/vehicles', { 'x-api-key': READER_KEY, 'x-forwarded-for': '198.51.100.8' }, '10.0.1.1')).statusCode, 200, 'another client behind the same proxy is not')
})

test('JWTs need the configured issuer and audience, an iat, and a bounded age and lifetime', async () => {
  const now = Math.floor(Date.now() / 1000)
  let n = 0
  const status = async (claims: Record<string, unknown>) => (await get('/v1/vehicles?limit=1', { authorization: `Bearer ${await signJwt(claims)}` }, `10.0.2.${n++}`)).statusCode
  assert.equal(await status({ sub: 'alice', role: 'read-only', exp: now + 600 }), 200)
  assert.equal(await status({ sub: 'alice', role: 'read-only', exp: now + 100 * 365 * 86_400, aud: 'another-service' }), 401, 'a 100-year token for another audience')
  assert.equal(await status({ sub: 'alice', role: 'read-only', exp: now + 600, aud: undefined }), 401, 'no audience')
  assert.equal(await status({ sub: 'alice', role: 'read-only', exp: now + 600, iss: 'https://someone.else' }), 401, 'another issuer')
  assert.equal(await status({ sub: 'alice', role: 'read-only', exp: now + 600, iss: undefined }), 401, 'no issuer')
  assert.equal(await status({ sub: 'alice', role: 'read-only', exp: now + 600, iat: undefined }), 401, 'no iat')
  assert.equal(await status({ sub: 'alice', role: 'read-only', exp: now + 100 * 365 * 86_400 }), 401, 'a 100-year lifetime')
  assert.equal(await status({ sub: 'alice', role: 'read-only', iat: now - 7_200, exp: now + 600 }), 401, 'older than the max age')
  assert.equal(await status({ sub: 'alice', role: 'read-only', iat: now + 3_600, exp: now + 4_000 }), 401, 'issued in the future')
  assert.equal(await status({ sub: 'alice', role: 'read-only', exp: now + 600, aud: [JWT_AUDIENCE, 'other'] }), 200, 'an audience list that names this api')
})

test('Origin: null is a foreign origin: a change from it is refused', async () => {
  const post = (origin: string) => t.api.app.inject({ method: 'POST', url: `/v1/vehicles/${p}-nobody/commands`, headers: { 'x-api-key': OPERATOR_KEY, origin, host: 'api.fleet.test' }, payload: { type: 'lock' }, remoteAddress: '10.0.3.1' })
  const res = await post('null')
  assert.equal(res.statusCode, 403)
  assert.equal(res.json().code, 'cross_origin')
  assert.equal((await post('https://api.fleet.test')).statusCode, 404, 'the own origin passes (to "no such car")')
})

test('an event stream whose reader does not read is closed once its buffer is full; the api keeps no more for it', async () => {
  const socket = connect(t.port, '127.0.0.1')
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject))
  let head = ''
  const gotHead = new Promise<void>(resolve => {
    const onData = (d: Buffer) => {
      head += d.toString('latin1')
      if (head.includes('\r\n\r\n')) { socket.off('data', onData); resolve() }
    }
    socket.on('data', onData)
  })
  const closed = new Promise<void>(resolve => socket.once('close', () => resolve()))
  socket.write(`GET /v1/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: ${READER_KEY}\r\n\r\n`)
  await gotHead
  assert.match(head, /^HTTP\/1\.1 200/)
  socket.pause()
  const dropped = () => metric('fleet_api_streams_dropped_total')
  const before = await dropped()
  const update = (i: number) => JSON.stringify({ commandId: `${p}-${i}-${'x'.repeat(2_000)}`, vehicleId: `${p}-car`, status: 'sent' })
  let sent = 0
  // Up to 200 MB of events; loopback socket buffers hold a few MB.
  while (sent < 100_000 && await dropped() === before) {
    const pipe = redis.pipeline()
    for (let i = 0; i < 1_000; i++) pipe.publish(COMMAND_UPDATES_CHANNEL, update(sent++))
    await pipe.exec()
    await new Promise(resolve => setTimeout(resolve, 20))
  }
  console.log(`# stream dropped after ${sent} events of ~2 KB (${Math.round(sent * 2.1 / 1024)} MB) sent to a reader that does not read`)
  assert.equal(await dropped() - before, 1, 'dropped and counted')
  socket.resume()
  await closed
  assert.equal((await get('/healthz', {}, '10.0.4.1')).statusCode, 200)
})
