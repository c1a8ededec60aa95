// The live dashboard in a real headless Chromium (Debian's chromium driven by playwright-core)
// against the real stack: broker, commander and api, with mqtt.js cars sending telemetry and
// answering commands, the scorer's Redis state seeded for them and an anomaly produced to Kafka.
// Writes results/dashboard.png.
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
import { ANOMALOUS_KEY, SCORES_KEY, vehicleStateFields, vehicleStateKey } from '../services/shared/src/vehicle-state.js'
import { OPERATOR_KEY, READER_KEY, startTestApi, startTestCommander, type TestApi, type TestCommander } from './helpers/api.js'
import { startTestBroker, type TestBroker } from './helpers/broker.js'
import { connectCar, uniqueFleetPrefix } from './helpers/cars.js'
import { testKafka } from './helpers/kafka.js'

const CHROMIUM = process.env.FLEET_CHROMIUM ?? '/usr/bin/chromium'
const SCREENSHOT = join(import.meta.dirname, '..', 'results', 'dashboard.png')
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

async function newContext (key: string | null): Promise<BrowserContext> {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 1000 }, ...(key === null ? {} : { httpCredentials: { username: 'operator', password: key } }) })
  ctx.on('weberror', e => pageErrors.push(e.error().message))
  return ctx
}

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} missing: apt-get install -y chromium`)
  tb = await startTestBroker()
  ;[tc, ta] = await Promise.all([startTestCommander(tb.mqttPort), startTestApi({ FLEET_API_SAMPLE_INTERVAL_MS: '500' })])
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
    const score = anomalous ? 900 : 100 + i * 10
    m.hset(vehicleStateKey(id), vehicleStateFields({ telemetry: JSON.stringify(validTelemetry(id, 1)), seq: 1, ts: Date.now(), score, rowScore: score, threshold: 400, anomalous, failureMode: anomalous ? 'bearing_wear' : null, modelVersion: 'test', scoredAt: now }))
    m.zadd(SCORES_KEY, score, id)
    if (anomalous) m.sadd(ANOMALOUS_KEY, id)
  })
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
  await redis?.multi().del(...ids.map(vehicleStateKey)).zrem(SCORES_KEY, ...ids).srem(ANOMALOUS_KEY, ...ids).exec()
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
  assert.match(await firstRow.innerText(), /900/)
  assert.match(await firstRow.innerText(), /bearing_wear/)
  assert.ok(await page.locator('#cars tbody tr').count() >= 5)

  // an anomaly arrives live
  const anomaly: Anomaly = {
    vehicleId: hot,
    seq: 99,
    ts: Date.now(),
    scoredAt: new Date().toISOString(),
    score: 912.5,
    rowScore: 950,
    threshold: 400,
    anomalous: true,
    modelVersion: 'test',
    topFeatures: [{ feature: 'engineVibrationMv', share: 0.9 }],
    failureModeGuess: 'bearing_wear',
    source: { partition: 0, offset: '0' }
  }
  await producer.send({ topic: KafkaTopics.anomalies, messages: [{ key: hot, value: JSON.stringify(anomaly) }] })
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
