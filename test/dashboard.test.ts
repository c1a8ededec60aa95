// The live dashboard in a real headless Chromium (Debian's chromium driven by playwright-core)
// against the real stack: broker, commander and api, with mqtt.js cars sending telemetry and
// answering commands, the scorer's Redis state and history seeded for them and anomalies produced
// to Kafka: the fleet page (summary, chart, map, cars, anomalies, commands) and a car's page.
// Writes results/dashboard.png and results/tmp/car-page.png.
import assert from 'node:assert/strict'
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { Redis } from 'ioredis'
import { Partitioners, type Producer } from 'kafkajs'
import type { MqttClient } from 'mqtt'
import { chromium, type Browser, type BrowserContext } from 'playwright-core'
import type { Anomaly } from '../services/shared/src/anomaly-schema.js'
import type { Command } from '../services/shared/src/command-schema.js'
import { validTelemetry } from '../services/shared/src/telemetry-samples.js'
import { KafkaTopics, MqttTopics } from '../services/shared/src/topics.js'
import { carHistoryKey, encodeHistoryPoint } from '../services/shared/src/car-history.js'
import { ANOMALOUS_KEY, SCORES_KEY, vehicleAnomaliesKey, vehicleStateFields, vehicleStateKey } from '../services/shared/src/vehicle-state.js'
import { OPERATOR_KEY, READER_KEY, startTestApi, startTestCommander, type TestApi, type TestCommander } from './helpers/api.js'
import { startTestBroker, type TestBroker } from './helpers/broker.js'
import { connectCar, uniqueFleetPrefix } from './helpers/cars.js'
import { testKafka } from './helpers/kafka.js'

const CHROMIUM = process.env.FLEET_CHROMIUM ?? '/usr/bin/chromium'
const SCREENSHOT = join(import.meta.dirname, '..', 'results', 'dashboard.png')
const CAR_SCREENSHOT = join(import.meta.dirname, '..', 'results', 'tmp', 'car-page.png')
const p = uniqueFleetPrefix('dash')
const ids = [0, 1, 2, 3, 4].map(i => `${p}-car${i}`)
const hot = ids[2]!
let tb: TestBroker
let tc: TestCommander
let ta: TestApi
let redis: Redis
let producer: Producer
let browser: Browser
const cars: MqttClient[] = []
let ticker: NodeJS.Timeout | null = null
const pageErrors: string[] = []
/** Requests the pages made that failed (404 and up), e.g. a missing favicon, and console errors. */
const failedRequests: string[] = []
const consoleErrors: string[] = []

async function newContext (key: string | null): Promise<BrowserContext> {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 1000 }, ...(key === null ? {} : { httpCredentials: { username: 'operator', password: key } }) })
  ctx.on('weberror', e => pageErrors.push(e.error().message))
  if (key !== null) {
    ctx.on('response', r => { if (r.status() >= 404) failedRequests.push(`${r.status()} ${new URL(r.url()).pathname}`) })
    ctx.on('console', m => { if (m.type() === 'error') consoleErrors.push(m.text()) })
  }
  return ctx
}

const placed = (id: string, i: number) => ({ ...validTelemetry(id, 1), lat: 48.1 + 0.013 * i, lon: 11.5 + 0.021 * ((i * 3) % 5) })

function anomalyOf (vehicleId: string, seq: number, score: number): Anomaly {
  return {
    vehicleId,
    seq,
    ts: Date.now(),
    scoredAt: new Date().toISOString(),
    score,
    rowScore: score + 20,
    threshold: 400,
    anomalous: true,
    modelVersion: 'test',
    topFeatures: [{ feature: 'engineVibrationMv', share: 0.9 }],
    failureModeGuess: 'bearing_wear',
    source: { partition: 0, offset: '0' }
  }
}

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} missing: apt-get install -y chromium`)
  tb = await startTestBroker()
  ;[tc, ta] = await Promise.all([startTestCommander(), startTestApi({ FLEET_API_SAMPLE_INTERVAL_MS: '500' })])
  redis = new Redis(ta.config.redisUrl)
  producer = testKafka().producer({ createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
  // cars: connected, sending telemetry, answering commands
  let seq = 0
  for (const id of ids) {
    const car = await connectCar(id, tb.mqttPort)
    await car.subscribeAsync(MqttTopics.commands(id), { qos: 1 })
    car.on('message', (_topic, payload) => {
      const c = JSON.parse(payload.toString()) as Command
      car.publish(MqttTopics.commandAck(id), JSON.stringify({ commandId: c.commandId, result: 'ok', detail: 'lights flashed' }), { qos: 1 })
    })
    cars.push(car)
  }
  ticker = setInterval(() => {
    seq++
    cars.forEach((car, i) => car.publish(MqttTopics.telemetry(ids[i]!), JSON.stringify(validTelemetry(ids[i]!, seq)), { qos: 1 }))
  }, 100)
  // what the scorer would keep for them: scores well above anything else in a shared Redis
  const now = new Date().toISOString()
  const m = redis.multi()
  ids.forEach((id, i) => {
    const anomalous = id === hot
    // (a real failing car scores in the thousands: npm start's may share this Redis)
    const score = anomalous ? 900_000 : 100 + i * 10
    // each car somewhere else (validTelemetry's position depends on seq only)
    m.hset(vehicleStateKey(id), vehicleStateFields({ telemetry: JSON.stringify(placed(id, i)), seq: 1, ts: Date.now(), score, rowScore: score, threshold: 400, anomalous, failureMode: anomalous ? 'bearing_wear' : null, modelVersion: 'test', scoredAt: now }))
    m.zadd(SCORES_KEY, score, id)
    if (anomalous) m.sadd(ANOMALOUS_KEY, id)
  })
  // the hot car's history as the scorer keeps it (newest first): vibration rising over 3 minutes,
  // the score with it, the last points anomalous; and its latest anomaly
  const t0 = Date.now() - 180_000
  m.lpush(carHistoryKey(hot), ...Array.from({ length: 90 }, (_, i) => {
    const t = { ...validTelemetry(hot, i, undefined, t0 + i * 2_000), engineVibrationMv: 150 + i * 4 }
    const score = 100 + i * 10
    return encodeHistoryPoint(t, score, score + 15, score > 400 ? [{ feature: 'engineVibrationMv', share: 0.8 }, { feature: 'engineVibrationMv~30s', share: 0.1 }] : null)
  }))
  m.lpush(vehicleAnomaliesKey(hot), JSON.stringify(anomalyOf(hot, 1, 905)))
  await m.exec()
  // playwright-core gives each launch a fresh --user-data-dir of its own (and refuses one in args).
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
})

after(async () => {
  if (ticker !== null) clearInterval(ticker)
  await browser?.close()
  for (const c of cars) c.end(true)
  await redis?.multi().del(...ids.map(vehicleStateKey), carHistoryKey(hot), vehicleAnomaliesKey(hot)).zrem(SCORES_KEY, ...ids).srem(ANOMALOUS_KEY, ...ids).exec()
  redis?.disconnect()
  await producer?.disconnect()
  await ta?.stop()
  await tc?.stop()
  await tb?.stop()
})

test('without credentials the dashboard is a 401, not a page', async () => {
  const ctx = await newContext(null)
  const page = await ctx.newPage()
  const res = await ctx.request.get(`${ta.url}/dashboard`)
  assert.equal(res.status(), 401)
  assert.match(res.headers()['www-authenticate'] ?? '', /^Basic/)
  assert.match(res.headers()['content-type'] ?? '', /problem\+json/)
  assert.equal(await page.locator('#summary').count(), 0)
  await ctx.close()
})

test('the dashboard: summary, cars with state and score, live anomalies, chart, and a command followed to acknowledged', async () => {
  const ctx = await newContext(OPERATOR_KEY)
  const page = await ctx.newPage()
  const res = await page.goto(`${ta.url}/dashboard`)
  assert.equal(res?.status(), 200)
  assert.match(res?.headers()['content-security-policy'] ?? '', /script-src 'self'/)
  await page.getByTestId('live').filter({ hasText: 'live' }).waitFor({ timeout: 10_000 })

  // summary from the api's samples: our five cars are online, messages are flowing
  // (expressions as strings: they run in the page, and tsc here knows no DOM)
  await page.waitForFunction("Number(document.getElementById('s-online').textContent.replace(/,/g, '')) >= 5 && Number(document.getElementById('s-rate').textContent.replace(/,/g, '')) > 0", null, { timeout: 15_000 })

  // cars table, riskiest first, online only
  await page.locator('#only-online').check()
  const firstRow = page.locator('#cars tbody tr').first()
  await firstRow.filter({ hasText: hot }).waitFor({ timeout: 10_000 })
  assert.match(await firstRow.innerText(), /online/)
  assert.match(await firstRow.innerText(), /anomalous/)
  assert.match(await firstRow.innerText(), /900,000/)
  assert.match(await firstRow.innerText(), /bearing_wear/)
  assert.ok(await page.locator('#cars tbody tr').count() >= 5)

  // an anomaly arrives live
  await producer.send({ topic: KafkaTopics.anomalies, messages: [{ key: hot, value: JSON.stringify(anomalyOf(hot, 99, 912.5)) }] })
  await page.getByTestId('anomalies').locator('li').first().filter({ hasText: hot }).waitFor({ timeout: 10_000 })
  assert.match(await page.getByTestId('anomalies').locator('li').first().innerText(), /912\.5.*bearing_wear/)

  // send a command from the form and watch it reach acknowledged
  await firstRow.click()
  assert.equal(await page.locator('#c-vehicle').inputValue(), hot)
  await page.locator('#c-type').selectOption('flash-lights')
  await page.locator('input[name=times]').fill('4')
  await page.locator('#c-send').click()
  const item = page.getByTestId('commands').locator('li').first()
  await item.getByTestId('command-status').filter({ hasText: 'acknowledged' }).waitFor({ timeout: 15_000 })
  assert.match(await item.innerText(), /flash-lights → .*acknowledged/)
  assert.match(await item.innerText(), /lights flashed/)

  // let the chart gather a few samples, then the screenshot
  await page.waitForTimeout(2_500)
  mkdirSync(join(SCREENSHOT, '..'), { recursive: true })
  await page.screenshot({ path: SCREENSHOT, fullPage: true })
  assert.ok(existsSync(SCREENSHOT))
  assert.deepEqual(pageErrors, [])
  await ctx.close()
})

test('the anomaly list numbers its items past 9, and no request of the page fails (favicon)', async () => {
  const ctx = await newContext(OPERATOR_KEY)
  const page = await ctx.newPage()
  await page.goto(`${ta.url}/dashboard`)
  await page.getByTestId('live').filter({ hasText: 'live' }).waitFor({ timeout: 30_000 })
  await producer.send({ topic: KafkaTopics.anomalies, messages: Array.from({ length: 12 }, (_, i) => ({ key: ids[i % 5]!, value: JSON.stringify(anomalyOf(ids[i % 5]!, 100 + i, 500 + i)) })) })
  const items = page.getByTestId('anomalies').locator('li')
  await page.waitForFunction("document.querySelectorAll('#anomalies li').length >= 13", null, { timeout: 30_000 })
  // each item shows its own number, inside the list's box (list markers were cut off past 9)
  const numbers = await page.$$eval('#anomalies li', lis => lis.map(li => {
    const n = li.querySelector('.n')
    const box = li.parentElement!.getBoundingClientRect()
    const r = n?.getBoundingClientRect()
    return { text: n?.textContent ?? null, inside: r !== undefined && r.width > 0 && r.left >= box.left && r.right <= box.right }
  }))
  numbers.forEach((n, i) => assert.deepEqual(n, { text: `${i + 1}.`, inside: true }, `item ${i + 1}`))
  const texts = await items.allInnerTexts()
  for (let i = 0; i < 12; i++) assert.ok(texts.some(t => t.includes(`score ${500 + i} > 400`)), `anomaly ${500 + i} listed`)
  await page.waitForTimeout(1_000)
  assert.deepEqual(failedRequests, [], 'no request of the page failed')
  assert.deepEqual(consoleErrors, [])
  assert.equal((await ctx.request.get(`${ta.url}/favicon.ico`)).status(), 200)
  await ctx.close()
})

test('the map draws the cars where they are, coloured by state, and a car leads to its page', async () => {
  const ctx = await newContext(READER_KEY)
  const page = await ctx.newPage()
  await page.goto(`${ta.url}/dashboard`)
  for (const id of ids) await page.locator(`#map circle[data-vehicle="${id}"]`).waitFor({ timeout: 30_000 })
  assert.equal(await page.locator(`#map circle[data-vehicle="${hot}"]`).getAttribute('data-state'), 'anomalous')
  assert.equal(await page.locator(`#map circle[data-vehicle="${ids[0]}"]`).getAttribute('data-state'), 'online')
  // positions follow the telemetry: east is right, north is up
  const at = await page.$$eval('#map circle.car', cs => Object.fromEntries(cs.map(c => [c.getAttribute('data-vehicle'), [Number(c.getAttribute('cx')), Number(c.getAttribute('cy'))]])))
  for (const [i, j] of [[0, 1], [1, 2], [3, 4]] as const) {
    const [a, b] = [at[ids[i]!]!, at[ids[j]!]!]
    const [pa, pb] = [placed(ids[i]!, i), placed(ids[j]!, j)]
    assert.equal(Math.sign(a[0]! - b[0]!), Math.sign(pa.lon - pb.lon), `${i} and ${j}: east is right`)
    assert.equal(Math.sign(a[1]! - b[1]!), -Math.sign(pa.lat - pb.lat), `${i} and ${j}: north is up`)
  }
  // with no tiles configured the map is drawn from nothing but the page: no image at all
  assert.equal(await page.locator('#map image').count(), 0)
  await page.locator(`#map circle[data-vehicle="${hot}"]`).click()
  await page.waitForURL(`**/dashboard/cars/${hot}`)
  await page.getByTestId('car-id').filter({ hasText: hot }).waitFor({ timeout: 30_000 })
  await ctx.close()
})

test('the car page: state, score against the threshold, signals with the ones behind the score marked, features, anomalies and commands', async () => {
  const ctx = await newContext(OPERATOR_KEY)
  const page = await ctx.newPage()
  const res = await page.goto(`${ta.url}/dashboard/cars/${hot}`)
  assert.equal(res?.status(), 200)
  await page.getByTestId('car-id').filter({ hasText: hot }).waitFor({ timeout: 30_000 })
  assert.match(await page.getByTestId('car-state').innerText(), /online.*anomalous/s)
  await page.locator('#c-score').filter({ hasText: '900,000' }).waitFor({ timeout: 30_000 })
  assert.match(await page.locator('#c-score').innerText(), /900,000 \/ 400/)
  assert.equal(await page.locator('#c-failure').innerText(), 'bearing_wear')
  await page.locator('#signals .signal').nth(7).waitFor({ timeout: 30_000 })
  assert.equal(await page.locator('#signals .signal').count(), 8)
  assert.equal(await page.locator('#signals .signal').first().getAttribute('data-signal'), 'engineVibrationMv', 'the signal behind the score comes first')
  assert.deepEqual(await page.$$eval('#signals .signal.marked', cs => cs.map(c => c.getAttribute('data-signal'))), ['engineVibrationMv'])
  assert.match(await page.locator('#signals .signal').first().innerText(), /506/, 'its latest value')
  assert.match(await page.getByTestId('features').innerText(), /engineVibrationMv 80%/)
  assert.match(await page.getByTestId('car-anomalies').locator('li').first().innerText(), /^1\.\s*\S+.*905.*bearing_wear/s)
  // the command the fleet page sent to this car
  await page.getByTestId('car-commands').locator('li').filter({ hasText: 'flash-lights' }).filter({ hasText: 'acknowledged' }).first().waitFor({ timeout: 30_000 })
  // a drawn score chart: some pixels of the score line's colour
  const drawn = await page.$eval('#score-chart', c => {
    const canvas = c as unknown as { width: number, height: number, getContext: (k: string) => { getImageData: (x: number, y: number, w: number, h: number) => { data: Uint8ClampedArray } } }
    const d = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data
    let n = 0
    for (let i = 0; i < d.length; i += 4) if (d[i]! > 200 && d[i + 1]! > 110 && d[i + 1]! < 160 && d[i + 2]! < 90) n++
    return n
  })
  assert.ok(drawn > 100, `score line drawn (${drawn} pixels)`)
  mkdirSync(join(CAR_SCREENSHOT, '..'), { recursive: true })
  await page.screenshot({ path: CAR_SCREENSHOT, fullPage: true })
  // a car nobody knows: the page says so
  await page.goto(`${ta.url}/dashboard/cars/${p}-nobody`)
  await page.getByTestId('car-error').filter({ hasText: 'not known' }).waitFor({ timeout: 30_000 })
  assert.deepEqual(pageErrors, [])
  assert.deepEqual(failedRequests.filter(r => !r.includes(`${p}-nobody`)), [])
  await ctx.close()
})

test('/docs renders the OpenAPI description in Swagger UI for a signed-in operator', async () => {
  const ctx = await newContext(READER_KEY)
  const page = await ctx.newPage()
  const res = await page.goto(`${ta.url}/docs`)
  assert.equal(res?.status(), 200)
  await page.getByText('/v1/vehicles/{vehicleId}/commands', { exact: true }).first().waitFor({ timeout: 15_000 })
  assert.deepEqual(pageErrors, [])
  await ctx.close()
})

test('with a read-only key the form says why the command was refused', async () => {
  const ctx = await newContext(READER_KEY)
  const page = await ctx.newPage()
  await page.goto(`${ta.url}/dashboard`)
  await page.locator('#c-vehicle').fill(ids[0]!)
  await page.locator('#c-type').selectOption('lock')
  await page.locator('#c-send').click()
  await page.getByTestId('command-error').filter({ hasText: /read-only/ }).waitFor({ timeout: 10_000 })
  assert.equal(await page.getByTestId('commands').locator('li').count(), 0)
  await ctx.close()
})
