// bench:connect — a reconnect storm: CARS cars (persistent sessions) connect to one broker at once,
// ROUNDS times (all disconnect between rounds). Prints connects/s and CONNACK latency per round and
// writes results/bench-connect.json (one entry per LABEL). The broker runs in this process with
// its connect budget out of the way, against the stack's Redis and Kafka.
//   CARS=2000 ROUNDS=3 LABEL=provisioned npm run bench:connect
//   BROKER_SRC=<dir with an older services/ tree> PASSWORDS=hmac LABEL=main npm run bench:connect
// PASSWORDS=hmac: today's (main 010b6c8) HMAC tokens under the development key, for a broker
// from before per-car credentials; provisioned: credentials written by provisionBulk.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import { Redis } from 'ioredis'
import mqttPacket from 'mqtt-packet'
import { provisionBulk } from '../services/shared/src/credential-store.js'
import { DEV_SIGNING_KEY, vehicleToken } from '../services/shared/src/legacy-tokens.js'

const cars = Number(process.env.CARS ?? 2_000)
const rounds = Number(process.env.ROUNDS ?? 3)
const label = process.env.LABEL ?? 'provisioned'
const passwordsKind = process.env.PASSWORDS ?? 'provisioned'
const src = process.env.BROKER_SRC ?? new URL('..', import.meta.url).pathname
const redisUrl = process.env.FLEET_REDIS_URL ?? 'redis://127.0.0.1:16379'

type BrokerModule = { createBroker: (c: unknown, d: unknown) => Promise<{ start: () => Promise<{ mqttPort: number }>, stop: () => Promise<void> }> }
const { loadBrokerConfig } = await import(`${src}/services/broker/src/broker-config.ts`) as { loadBrokerConfig: (env: NodeJS.ProcessEnv) => unknown }
const { createBroker } = await import(`${src}/services/broker/src/index.ts`) as BrokerModule
const { createLogger } = await import(`${src}/services/shared/src/logger.ts`) as { createLogger: (n: string, l: string) => unknown }

const config = loadBrokerConfig({
  ...process.env,
  FLEET_DEV_MODE: '1',
  FLEET_BROKER_ID: `bench-connect-${process.pid}`,
  FLEET_MQTT_PORT: '0',
  FLEET_MQTT_WS_PORT: '-1',
  FLEET_BROKER_OPS_PORT: '0',
  FLEET_CONNECT_RATE_PER_S: '1000000',
  // the cars share this process's event loop: the broker's overload shedding would see their load
  FLEET_CONNECT_SHED_LAG_MS: '0',
  FLEET_MAX_PENDING_CONNECTS: '0',
  FLEET_MAX_CONNECTIONS: String(cars + 1_000),
  FLEET_LOG_LEVEL: 'error'
})
const broker = await createBroker(config, { log: createLogger('broker', 'error') })
const { mqttPort } = await broker.start()

const prefix = `bench-connect-${Date.now().toString(36)}`
const ids = Array.from({ length: cars }, (_, i) => `${prefix}-${i}`)
const redis = new Redis(redisUrl)
const t0 = performance.now()
const passwords = passwordsKind === 'hmac'
  ? new Map(ids.map(id => [id, vehicleToken(DEV_SIGNING_KEY, id)]))
  : await provisionBulk(redis, ids)
const provisionMs = performance.now() - t0
if (passwordsKind === 'hmac') await redis.pipeline(ids.map(id => ['hset', `fleet:vehicle:${id}`, 'provisionedAt', new Date().toISOString()])).exec()

/** One car: connect, wait for CONNACK; resolves with its latency (ms) or null when refused. */
function connectOne (id: string, sent: number, sockets: Socket[]): Promise<number | null> {
  return new Promise(resolve => {
    const s = connect({ host: '127.0.0.1', port: mqttPort })
    sockets.push(s)
    const parser = mqttPacket.parser({ protocolVersion: 4 })
    let done = false
    const finish = (v: number | null) => { if (!done) { done = true; resolve(v) } }
    parser.on('packet', p => { if (p.cmd === 'connack') finish((p as { returnCode: number }).returnCode === 0 ? performance.now() - sent : null) })
    s.on('data', d => parser.parse(d))
    s.on('error', () => finish(null))
    s.on('close', () => finish(null))
    s.on('connect', () => s.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: false, clientId: id, keepalive: 60, username: id, password: Buffer.from(passwords.get(id)!) } as never)))
  })
}

const q = (xs: number[], p: number) => xs.length === 0 ? null : Math.round(xs[Math.min(xs.length - 1, Math.floor(p * xs.length))]! * 10) / 10
// cpuUsPerConnect: this process's CPU (the broker and the cars' sockets) per car in the round
const results: Array<{ round: number, accepted: number, refused: number, seconds: number, connectsPerS: number, connackP50Ms: number | null, connackP99Ms: number | null, cpuUsPerConnect: number }> = []
for (let round = 1; round <= rounds; round++) {
  const sockets: Socket[] = []
  const cpu0 = process.cpuUsage()
  const start = performance.now()
  const latencies = await Promise.all(ids.map(id => connectOne(id, start, sockets)))
  const seconds = (performance.now() - start) / 1000
  const cpu = process.cpuUsage(cpu0)
  const ok = latencies.filter((l): l is number => l !== null).sort((a, b) => a - b)
  const r = { round, accepted: ok.length, refused: cars - ok.length, seconds: Math.round(seconds * 1000) / 1000, connectsPerS: Math.round(ok.length / seconds), connackP50Ms: q(ok, 0.5), connackP99Ms: q(ok, 0.99), cpuUsPerConnect: Math.round((cpu.user + cpu.system) / cars) }
  results.push(r)
  console.log(JSON.stringify(r))
  for (const s of sockets) s.destroy()
  await new Promise(resolve => setTimeout(resolve, 2_000))
}
await broker.stop()
redis.disconnect()

const best = [...results].sort((a, b) => a.connectsPerS - b.connectsPerS)[Math.floor(results.length / 2)]!
const entry = { label, passwords: passwordsKind, cars, rounds: results, medianConnectsPerS: best.connectsPerS, provisionMs: Math.round(provisionMs), at: new Date().toISOString() }
console.log(JSON.stringify({ label, cars, medianConnectsPerS: best.connectsPerS, provisionMs: entry.provisionMs }))
mkdirSync('results', { recursive: true })
const file = 'results/bench-connect.json'
const all = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown> : {}
all[label] = entry
writeFileSync(file, JSON.stringify(all, null, 2) + '\n')
process.exit(0)
