// The Go load generator (loadtest/k6/cmd/fleet-cars, scripts/build-fleet-cars.sh), run for real
// against a broker made by the same factory as main.ts on the stack's Kafka and Redis: every
// PUBACK it counted is a schema-valid record in vehicle.telemetry, each car's in seq order; the
// commands sent meanwhile come back acknowledged; and a car whose first connects fail (no broker
// yet) keeps trying and gets in once the broker is there.
import assert from 'node:assert/strict'
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { after, before, test } from 'node:test'
import { Redis } from 'ioredis'
import type { CommandEvent } from '../services/shared/src/command-schema.js'
import { provisionForLoad } from '../services/shared/src/load-credentials.js'
import { parseTelemetry } from '../services/shared/src/telemetry-schema.js'
import { KafkaTopics } from '../services/shared/src/topics.js'
import { startTestBroker, type TestBroker } from './helpers/broker.js'
import { freePort } from './helpers/broker-process.js'
import { uniqueFleetPrefix } from './helpers/cars.js'
import { startCommandSender, type CommandSender } from './helpers/commands.js'
import { collect, type Collector } from './helpers/kafka.js'

const root = new URL('..', import.meta.url).pathname
const bin = execFileSync(`${root}scripts/build-fleet-cars.sh`, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim()
const redisUrl = process.env.FLEET_REDIS_URL ?? 'redis://127.0.0.1:16379'
const prefixes: string[] = []
const brokers: TestBroker[] = []
const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

interface Report { msg: string, connected: number, published: number, acked: number, errors: number, commandsAnswered: number, reconnects: number }

/** Provisions `cars` cars and starts fleet-cars for them; reports are its 'fleet' lines. */
async function startGoFleet (prefix: string, cars: number, url: string, env: Record<string, string> = {}) {
  prefixes.push(prefix)
  const ids = Array.from({ length: cars }, (_, i) => `${prefix}-${String(i).padStart(5, '0')}`)
  const file = `${root}results/tmp/${prefix}-credentials.tsv`
  mkdirSync(`${root}results/tmp`, { recursive: true })
  writeFileSync(file, [...(await provisionForLoad(redisUrl, ids))].map(([id, pw]) => `${id}\t${pw}\n`).join(''), { mode: 0o600 })
  const child: ChildProcess = spawn(bin, [], {
    env: { ...process.env, FLEET_SIM_MQTT_URL: url, FLEET_SIM_CARS: String(cars), FLEET_SIM_ID_PREFIX: prefix, FLEET_SIM_CREDENTIALS_FILE: file, FLEET_SIM_INTERVAL_MS: '1000', FLEET_SIM_RAMP_PER_S: '1000', FLEET_SIM_REPORT_MS: '500', ...env },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  const reports: Report[] = []
  let buf = ''
  child.stdout!.on('data', d => {
    buf += d
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const r = JSON.parse(buf.slice(0, nl)) as Report
      buf = buf.slice(nl + 1)
      if (r.msg === 'fleet') reports.push(r)
    }
  })
  const exited = new Promise<number | null>(resolve => child.once('exit', code => resolve(code)))
  return {
    ids,
    reports,
    last: () => reports.at(-1),
    async waitFor (pred: (r: Report) => boolean, ms: number) {
      const deadline = Date.now() + ms
      while (!(reports.length > 0 && pred(reports.at(-1)!))) {
        if (Date.now() > deadline) throw new Error(`timed out; last report ${JSON.stringify(reports.at(-1))}`)
        await sleep(100)
      }
    },
    async stop () {
      child.kill('SIGTERM')
      return await exited
    }
  }
}

let telemetry: Collector
let events: Collector
let commander: CommandSender
const prefix = uniqueFleetPrefix('gofleet')

before(async () => {
  brokers.push(await startTestBroker())
  telemetry = await collect(KafkaTopics.telemetry, key => key.startsWith(prefix))
  events = await collect(KafkaTopics.commandEvents, key => key.startsWith(prefix))
  commander = await startCommandSender(prefix)
  await brokers[0]!.commandsJoined()
}, { timeout: 120_000 })

after(async () => {
  await commander?.stop()
  await telemetry?.stop()
  await events?.stop()
  for (const b of brokers) await b.stop()
  const redis = new Redis(redisUrl)
  for (const p of prefixes) {
    for await (const keys of redis.scanStream({ match: `*${p}*`, count: 1_000 })) if (keys.length > 0) await redis.unlink(...keys)
  }
  redis.disconnect()
}, { timeout: 60_000 })

test('the Go unit tests of the load generator and the k6 extension pass (wire format, packet splitting, model, histograms)', { timeout: 300_000 }, async () => {
  // not spawnSync: a cold `go test` takes ~20 s, and this process hosts the broker and the Kafka
  // consumers of the tests below, which would miss their heartbeats and be rebalanced meanwhile
  const child = spawn('go', ['test', './...'], { cwd: `${root}loadtest/k6/xk6-mqtt`, env: { ...process.env, GOTOOLCHAIN: 'local' }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout!.on('data', d => { out += d })
  child.stderr!.on('data', d => { out += d })
  const code = await new Promise<number | null>(resolve => child.once('close', c => resolve(c)))
  assert.equal(code, 0, out)
})

test('Go fleet: 300 cars publish at QoS 1 through the broker into Kafka and answer commands', { timeout: 120_000 }, async () => {
  const cars = 300
  const fleet = await startGoFleet(prefix, cars, `mqtt://127.0.0.1:${brokers[0]!.mqttPort}`)
  await fleet.waitFor(r => r.connected === cars, 30_000)
  await sleep(1_500) // every car has subscribed to its commands
  // the cloud's commands, through vehicle.commands as the api sends them
  const sent = (await commander.sendMany(Array.from({ length: 10 }, (_, i) => fleet.ids[i * 30]!))).map(c => c.commandId)
  await sleep(4_000)
  assert.equal(await fleet.stop(), 0)
  const final = fleet.last()!
  assert.equal(final.errors, 0)
  assert.ok(final.acked > cars * 3, `acknowledged telemetry: ${final.acked}`)
  assert.equal(final.acked, final.published, 'every telemetry message got its PUBACK before the fleet disconnected')
  assert.ok(final.commandsAnswered >= sent.length)

  // PUBACK means "in Kafka": every acknowledged message is there, valid, each car's in seq order.
  await telemetry.waitFor(r => r.length >= final.acked, 30_000)
  if (telemetry.records.length !== final.acked) {
    // say which messages Kafka holds twice (or more), with their partition, offset and timestamp
    const seen = new Map<string, string[]>()
    for (const r of telemetry.records) {
      const k = `${r.key} seq ${(JSON.parse(r.value.toString()) as { seq: number }).seq}`
      seen.set(k, [...seen.get(k) ?? [], `p${r.partition}@${r.offset} ts ${r.timestamp}`])
    }
    const twice = [...seen].filter(([, at]) => at.length > 1)
    assert.fail(`${telemetry.records.length} records in Kafka for ${final.acked} acknowledged; more than once: ${JSON.stringify(twice.slice(0, 10))}`)
  }
  const lastSeq = new Map<string, number>()
  for (const r of telemetry.records) {
    const parsed = parseTelemetry(r.value, r.key, 16_384)
    assert.ok(parsed.ok, `${r.key}: ${parsed.ok ? '' : parsed.detail}`)
    const seq = (JSON.parse(r.value.toString()) as { seq: number }).seq
    assert.equal(seq, (lastSeq.get(r.key) ?? -1) + 1, `${r.key}: seq in order`)
    lastSeq.set(r.key, seq)
  }
  assert.equal(lastSeq.size, cars)
  await events.waitFor(r => sent.every(id => r.some(e => {
    const ev = JSON.parse(e.value.toString()) as CommandEvent
    return ev.commandId === id && ev.status === 'acknowledged'
  })), 30_000)
})

test('Go fleet: cars whose first connects fail keep trying and get in once the broker is up', { timeout: 120_000 }, async () => {
  const port = await freePort()
  const cars = 50
  const fleet = await startGoFleet(`${prefix}-retry`, cars, `mqtt://127.0.0.1:${port}`, { FLEET_SIM_INTERVAL_MS: '2000' })
  await fleet.waitFor(r => r.errors >= cars, 15_000) // every car's first connect was refused
  assert.equal(fleet.last()!.connected, 0)
  brokers.push(await startTestBroker({ FLEET_MQTT_PORT: String(port) }))
  await fleet.waitFor(r => r.connected === cars, 60_000)
  await fleet.waitFor(r => r.acked >= cars, 15_000)
  assert.equal(await fleet.stop(), 0)
})
