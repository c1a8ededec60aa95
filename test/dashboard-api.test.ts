// The api routes behind the dashboard's map and car page against the real Redis and Kafka:
// /v1/fleet/positions (each scored car's latest position and state) and
// /v1/vehicles/{id}/history (the scorer's bounded history of a car), with a read-only key; bad
// input and unknown cars get problem+json; the dashboard's CSP admits configured map tiles only.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { Redis } from 'ioredis'
import { carHistoryKey, encodeHistoryPoint, HISTORY_SIGNALS } from '../services/shared/src/car-history.js'
import { validTelemetry } from '../services/shared/src/telemetry-samples.js'
import { ANOMALOUS_KEY, SCORES_KEY, vehicleStateFields, vehicleStateKey } from '../services/shared/src/vehicle-state.js'
import { dashboardCsp } from '../services/api/src/routes/dashboard.js'
import { loadApiConfig } from '../services/api/src/api-config.js'
import { READER_KEY, startTestApi, type TestApi } from './helpers/api.js'
import { uniqueFleetPrefix } from './helpers/cars.js'

const p = uniqueFleetPrefix('views')
const hot = `${p}-hot`
const calm = `${p}-calm`
let ta: TestApi
let redis: Redis
const T0 = Date.now() - 60_000

const get = (path: string, key: string | null = READER_KEY) => fetch(`${ta.url}${path}`, { headers: key === null ? {} : { 'x-api-key': key } })

before(async () => {
  ta = await startTestApi()
  redis = new Redis(ta.config.redisUrl)
  const m = redis.multi()
  for (const [id, score, anomalous] of [[hot, 5_000_000, true], [calm, 4_999_999, false]] as const) {
    const t = validTelemetry(id, 7, undefined, T0)
    m.hset(vehicleStateKey(id), vehicleStateFields({ telemetry: JSON.stringify(t), seq: 7, ts: T0, score, rowScore: score, threshold: 98.7, anomalous, failureMode: anomalous ? 'coolant_leak' : null, modelVersion: 't', scoredAt: new Date().toISOString() }))
    m.zadd(SCORES_KEY, score, id)
    if (anomalous) m.sadd(ANOMALOUS_KEY, id)
  }
  // history newest first, as the scorer pushes it: 5 points 2 s apart, the last two anomalous
  const entries = [0, 1, 2, 3, 4].map(i => encodeHistoryPoint(validTelemetry(hot, i, undefined, T0 + i * 2_000), 50 + i * 20, 60, i >= 3 ? [{ feature: 'coolantTempC', share: i === 3 ? 0.6 : 0.8 }, { feature: 'rpm', share: 0.1 }] : null))
  m.lpush(carHistoryKey(hot), ...entries)
  m.lpush(carHistoryKey(hot), 'not a point')
  await m.exec()
})

after(async () => {
  await redis.multi().del(vehicleStateKey(hot), vehicleStateKey(calm), carHistoryKey(hot)).zrem(SCORES_KEY, hot, calm).srem(ANOMALOUS_KEY, hot).exec()
  redis.disconnect()
  await ta.stop()
})

test('positions: each scored car with its latest lat/lon and state, riskiest first, bounded by limit', async () => {
  const res = await get('/v1/fleet/positions?limit=2')
  assert.equal(res.status, 200)
  const body = await res.json() as { items: Array<Record<string, unknown>>, scored: number }
  assert.ok(body.scored >= 2)
  assert.equal(body.items.length, 2)
  const t = validTelemetry(hot, 7, undefined, T0)
  assert.deepEqual({ ...body.items[0], seenAt: null }, { vehicleId: hot, lat: t.lat, lon: t.lon, online: false, anomalous: true, score: 5_000_000, failureMode: 'coolant_leak', seenAt: null })
  assert.equal(body.items[1]!.vehicleId, calm)
  assert.equal(body.items[1]!.anomalous, false)
})

test('history: the points oldest first with their signals, the threshold, and the features that carried the anomalous ones', async () => {
  const res = await get(`/v1/vehicles/${hot}/history?points=10`)
  assert.equal(res.status, 200)
  const body = await res.json() as { threshold: number, signals: string[], points: Array<{ ts: number, score: number, signals: Record<string, number>, topFeatures: unknown }>, features: unknown }
  assert.equal(body.threshold, 98.7)
  assert.deepEqual(body.signals, [...HISTORY_SIGNALS])
  assert.deepEqual(body.points.map(pt => pt.ts), [0, 1, 2, 3, 4].map(i => T0 + i * 2_000), 'the entry not in the layout is left out')
  assert.equal(body.points[4]!.score, 130)
  assert.equal(body.points[0]!.signals.coolantTempC, validTelemetry(hot, 0, undefined, T0).coolantTempC)
  assert.equal(body.points[0]!.topFeatures, null)
  assert.deepEqual(body.features, [{ feature: 'coolantTempC', share: 0.7 }, { feature: 'rpm', share: 0.1 }])
  const two = await (await get(`/v1/vehicles/${hot}/history?points=3`)).json() as { points: Array<{ ts: number }> }
  assert.deepEqual(two.points.map(pt => pt.ts), [T0 + 6_000, T0 + 8_000], 'the latest 3 entries, one of them not a point')
  // a known car without history: empty, not 404
  const calmRes = await get(`/v1/vehicles/${calm}/history`)
  assert.equal(calmRes.status, 200)
  assert.deepEqual((await calmRes.json() as { points: unknown[] }).points, [])
})

test('bad ids, unknown cars and bad queries get problem+json; no key gets 401', async () => {
  for (const [path, status] of [
    [`/v1/vehicles/${p}-nobody/history`, 404],
    ['/v1/vehicles/bad%20id!/history', 400],
    [`/v1/vehicles/${'x'.repeat(65)}/history`, 400],
    [`/v1/vehicles/${hot}/history?points=0`, 400],
    [`/v1/vehicles/${hot}/history?points=1001`, 400],
    ['/v1/fleet/positions?limit=0', 400],
    ['/v1/fleet/positions?limit=5001', 400],
    ['/v1/fleet/positions?limit=abc', 400],
    ['/dashboard/cars/bad%20id!', 400]
  ] as const) {
    const res = await get(path)
    assert.equal(res.status, status, path)
    assert.match(res.headers.get('content-type') ?? '', /application\/problem\+json/, path)
    const body = await res.json() as { status: number, code: string }
    assert.equal(body.status, status, path)
  }
  for (const path of ['/v1/fleet/positions', `/v1/vehicles/${hot}/history`, `/dashboard/cars/${hot}`, '/favicon.ico']) {
    const res = await get(path, null)
    assert.equal(res.status, 401, path)
  }
})

test('the dashboard\'s CSP: images from itself only, plus the tile origin when tiles are configured; the tile setting refuses markup', () => {
  assert.match(dashboardCsp(''), /img-src 'self' data:;/)
  assert.match(dashboardCsp('https://tile.example.org/{z}/{x}/{y}.png'), /img-src 'self' data: https:\/\/tile\.example\.org;/)
  assert.throws(() => loadApiConfig({ FLEET_API_MAP_TILES_URL: 'https://x.org/{z}/{x}/{y}.png"><script>' }), /FLEET_API_MAP_TILES_URL/)
  assert.throws(() => loadApiConfig({ FLEET_API_MAP_TILES_URL: 'javascript:alert(1)//{z}' }), /FLEET_API_MAP_TILES_URL/)
})
