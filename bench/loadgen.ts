// bench:loadgen — what the load generator costs: fleet's Node simulator (lean MQTT client) and the
// Go fleet (loadtest/k6/cmd/fleet-cars) drive the same cars, one after the other, against the same
// Mosquitto and the same fleet broker process (PUBACK after Kafka's ack) in one run. Per generator
// and target: CPU µs per acknowledged message at the soak's shape (QoS 1, one message per car every
// INTERVAL_MS), CPU µs per idle car per second (connected, subscribed, keepalive only), RSS per car,
// PUBACK p50/p99 and errors; CPU from /proc/<pid>/stat. Writes results/bench-loadgen.json.
//   CARS=10000 INTERVAL_MS=10000 HOLD_S=60 IDLE_S=60 GENERATORS=node,go TARGETS=mosquitto,fleet npm run bench:loadgen
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { envNumber, loadShape } from './load-shape.js'
import { cpuSecondsOr0, machineBusySeconds } from './proc-stats.js'
import { startBrokerProcess } from '../test/helpers/broker-process.js'
import { startMosquitto } from '../test/helpers/mosquitto.js'
import { goGenerator, pct, startSimulators } from '../loadtest/sim-procs.js'

process.env.FLEET_DEV_MODE ??= '1'
const { cars, intervalMs, holdS, rampPerS } = loadShape({ cars: 10_000, intervalMs: 10_000, holdS: 60, rampPerS: 1_000 })
const idleS = envNumber('IDLE_S', 60)
const generators = (process.env.GENERATORS ?? 'node,go').split(',') as Array<'node' | 'go'>
const targets = (process.env.TARGETS ?? 'mosquitto,fleet').split(',') as Array<'mosquitto' | 'fleet'>
const out = process.env.OUT ?? 'results/bench-loadgen.json'
const redisUrl = process.env.FLEET_REDIS_URL ?? 'redis://127.0.0.1:16379'
const root = new URL('..', import.meta.url).pathname
const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d
const IDLE_INTERVAL_MS = 3_600_000 // the simulator's longest: an idle car's first message falls somewhere in the next hour

interface Run { target: string, generator: string, mode: 'active' | 'idle', cars: number, connected: number, seconds: number, generatorCores: number, targetCores: number, machineCores: number, ackedPerS: number, cpuUsPerMessage: number | null, cpuUsPerCarSecond: number, rssKBPerCar: number, pubackP50: number | null, pubackP99: number | null, errors: number, load1: number }

async function startTarget (target: 'mosquitto' | 'fleet') {
  if (target === 'mosquitto') {
    const m = await startMosquitto()
    return { url: `mqtt://127.0.0.1:${m.port}`, pid: m.child.pid!, stop: m.stop }
  }
  const b = await startBrokerProcess(`bench-loadgen-${Date.now().toString(36)}`, { FLEET_MAX_CONNECTIONS: '19500', FLEET_CONNECT_RATE_PER_S: '100000', FLEET_CONNECT_RATE_PER_ADDRESS: '100000', FLEET_LOG_LEVEL: 'warn' })
  return { url: `mqtt://127.0.0.1:${b.mqttPort}`, pid: b.child.pid!, stop: () => b.kill('SIGTERM') }
}

async function measure (target: 'mosquitto' | 'fleet', generator: 'node' | 'go', mode: 'active' | 'idle'): Promise<Run> {
  const server = await startTarget(target)
  const prefix = `loadgen-${generator}-${mode}-${Date.now().toString(36)}`
  const interval = mode === 'active' ? intervalMs : IDLE_INTERVAL_MS
  const go = generator === 'go' ? await goGenerator({ redisUrl, prefix, cars, procs: 1 }) : undefined
  const sims = startSimulators({ urls: [server.url], prefix, cars, procs: 1, intervalMs: interval, rampPerS, reportMs: 5_000, env: { FLEET_SIM_CLIENT: 'lean' }, ...(go === undefined ? {} : { go }) })
  try {
    const deadline = performance.now() + (cars / rampPerS + 120) * 1_000
    await sims.untilConnected(cars, deadline, 500)
    // Let the connect storm's garbage go and every car reach its first message.
    await sleep((mode === 'active' ? interval : 0) + 10_000)
    const seconds = mode === 'active' ? holdS : idleS
    const t0 = performance.now()
    const errors0 = sims.errors()
    const [g0, s0, m0] = [sims.cpu(), cpuSecondsOr0(server.pid), machineBusySeconds()]
    await sleep(seconds * 1_000)
    const secs = (performance.now() - t0) / 1_000
    const [g1, s1, m1] = [sims.cpu(), cpuSecondsOr0(server.pid), machineBusySeconds()]
    await sleep(5_500) // the report covering the window's end
    const w = sims.window(t0, t0 + secs * 1_000 + 5_400)
    const generatorCores = (g1 - g0) / secs
    const run: Run = {
      target,
      generator: generator === 'go' ? 'go (fleet-cars)' : 'node (lean client)',
      mode,
      cars,
      connected: sims.connected(),
      seconds: round(secs, 1),
      generatorCores: round(generatorCores, 3),
      targetCores: round((s1 - s0) / secs, 3),
      machineCores: round((m1 - m0) / secs),
      ackedPerS: w.ackedPerS,
      cpuUsPerMessage: mode === 'active' && w.ackedPerS > 0 ? round(generatorCores / w.ackedPerS * 1e6, 1) : null,
      cpuUsPerCarSecond: round(generatorCores / cars * 1e6, 3),
      rssKBPerCar: round(sims.rss() / 1024 / cars, 1),
      pubackP50: pct(w.samples, 0.5),
      pubackP99: pct(w.samples, 0.99),
      errors: sims.errors() - errors0,
      load1: round(loadavg()[0]!)
    }
    console.log(JSON.stringify(run))
    return run
  } finally {
    await sims.stop()
    await server.stop()
  }
}

const runs: Run[] = []
for (const target of targets) {
  for (const mode of ['idle', 'active'] as const) {
    for (const generator of generators) runs.push(await measure(target, generator, mode))
  }
}
const find = (t: string, g: string, m: string) => runs.find(r => r.target === t && r.generator.startsWith(g) && r.mode === m)
const ratios = targets.map(t => {
  const [na, ga, ni, gi] = [find(t, 'node', 'active'), find(t, 'go', 'active'), find(t, 'node', 'idle'), find(t, 'go', 'idle')]
  return {
    target: t,
    perMessageNodeOverGo: na?.cpuUsPerMessage && ga?.cpuUsPerMessage ? round(na.cpuUsPerMessage / ga.cpuUsPerMessage, 1) : null,
    perIdleCarNodeOverGo: ni && gi && gi.cpuUsPerCarSecond > 0 ? round(ni.cpuUsPerCarSecond / gi.cpuUsPerCarSecond, 1) : null
  }
})
const summary = { bench: 'loadgen', when: new Date().toISOString(), machine: { cpus: cpus().length, model: cpus()[0]?.model }, params: { cars, intervalMs, holdS, idleS, rampPerS }, runs, ratios }
mkdirSync(`${root}results`, { recursive: true })
writeFileSync(`${root}${out}`, JSON.stringify(summary, null, 2) + '\n')
console.table(runs.map(r => ({ target: r.target, generator: r.generator, mode: r.mode, 'µs/msg': r.cpuUsPerMessage, 'µs/car/s': r.cpuUsPerCarSecond, 'KB/car': r.rssKBPerCar, 'acked/s': r.ackedPerS, 'p50 ms': r.pubackP50, 'p99 ms': r.pubackP99, errors: r.errors })))
console.log(JSON.stringify(ratios))
console.log(`wrote ${out}`)
process.exit(0)
