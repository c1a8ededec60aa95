// bench:ingest-soak — the broker's CPU per message at the soak's shape: thousands of cars, each
// connected on its own socket and publishing one QoS 1 message per interval (the simulator's lean
// client, as the soak drives it), into one fleet broker process (Kafka ingest, PUBACK after
// Kafka's ack) and into Debian's Mosquitto (writes nowhere), ROUNDS times in turn. The server's CPU
// comes from /proc/<pid>/stat over a window with every car connected. Prints and writes
// results/bench-ingest-soak.json. Needs the stack (scripts/stack.sh up).
//   CARS=5000 INTERVAL_MS=1000 HOLD_S=40 SIM_PROCS=2 ROUNDS=2 [CPU_PROF=dir] [OUT=…] npm run bench:ingest-soak
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { cpus, loadavg } from 'node:os'
import { BROKER_NODE_FLAGS, startBrokerProcess } from '../test/helpers/broker-process.js'
import { startMosquitto } from '../test/helpers/mosquitto.js'
import { startSimulators } from '../loadtest/sim-procs.js'
import { envNumber, loadShape } from './load-shape.js'
import { cpuSeconds, cpuSecondsOr0, machineBusySeconds, rssBytes, stackPid } from './proc-stats.js'

const { cars, intervalMs, holdS, rampPerS } = loadShape({ cars: 5_000, intervalMs: 1_000, holdS: 40, rampPerS: 1_000 })
const simProcs = envNumber('SIM_PROCS', Math.max(1, Math.ceil(cars / 5_000)))
const rounds = envNumber('ROUNDS', 2)
const prof = process.env.CPU_PROF
const root = new URL('..', import.meta.url).pathname
const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))
const round2 = (n: number) => Math.round(n * 100) / 100

interface Run { server: 'fleet' | 'mosquitto', round: number, connected: number, ackedPerS: number, offeredPerS: number, errors: number, serverCores: number, serverUsPerMessage: number, kafkaCores: number, kafkaUsPerMessage: number, loadGeneratorCores: number, loadGeneratorUsPerMessage: number, machineBusyCores: number, serverRssMB: number }

async function measure (server: Run['server'], round: number): Promise<Run> {
  const prefix = `soakb-${server}-${round}-${Date.now().toString(36)}`
  const fleet = server === 'fleet'
    ? await startBrokerProcess(prefix, { FLEET_CONNECT_RATE_PER_S: '100000' }, { nodeArgs: prof === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${prof}/round-${round}`] })
    : null
  const mosq = server === 'mosquitto' ? await startMosquitto() : null
  const pid = fleet?.child.pid ?? mosq!.child.pid!
  const port = fleet?.mqttPort ?? mosq!.port
  // lean cars without PUBACK samples in their reports: the load generator's cost stays as measured before
  const sims = startSimulators({ urls: [`mqtt://127.0.0.1:${port}`], prefix, cars, procs: simProcs, intervalMs, rampPerS, reportMs: 1_000, env: { FLEET_SIM_CLIENT: 'lean', FLEET_SIM_REPORT_SAMPLES: 'false' } })
  try {
    const deadline = Date.now() + (cars / rampPerS + 120) * 1_000
    while (sims.connected() < cars) {
      if (Date.now() > deadline) throw new Error(`${server}: only ${sims.connected()} of ${cars} cars connected`)
      await sleep(500)
    }
    // Every car past its first message and the ramp's garbage collected before the window.
    await sleep(intervalMs + 5_000)
    const kafkaPid = stackPid('kafka')
    const simCpu = () => sims.children.reduce((n, c) => n + cpuSecondsOr0(c.pid), 0)
    const a0 = sims.acked()
    const c0 = { server: cpuSeconds(pid), kafka: cpuSecondsOr0(kafkaPid), load: simCpu(), busy: machineBusySeconds() }
    const t0 = performance.now()
    let connectedMin = sims.connected()
    for (let s = 0; s < holdS; s++) {
      await sleep(1_000)
      connectedMin = Math.min(connectedMin, sims.connected())
    }
    // The reports come each second: the acknowledged count moves with them.
    const secs = (performance.now() - t0) / 1_000
    const acked = sims.acked() - a0
    const cores = (x: number) => round2(x / secs)
    const serverCores = cores(cpuSeconds(pid) - c0.server)
    const kafkaCores = server === 'fleet' ? cores(cpuSecondsOr0(kafkaPid) - c0.kafka) : 0
    const loadGeneratorCores = cores(simCpu() - c0.load)
    const ackedPerS = acked / secs
    const us = (c: number) => round2(c / ackedPerS * 1e6)
    return {
      server,
      round,
      connected: connectedMin,
      ackedPerS: Math.round(ackedPerS),
      offeredPerS: Math.round(cars * 1_000 / intervalMs),
      errors: sims.errors(),
      serverCores,
      serverUsPerMessage: us(serverCores),
      kafkaCores,
      kafkaUsPerMessage: us(kafkaCores),
      loadGeneratorCores,
      loadGeneratorUsPerMessage: us(loadGeneratorCores),
      machineBusyCores: cores(machineBusySeconds() - c0.busy),
      serverRssMB: Math.round(rssBytes(pid) / 2 ** 20)
    }
  } finally {
    await sims.stop()
    await (fleet?.kill('SIGTERM') ?? mosq!.stop())
  }
}

const load1 = loadavg()[0]!
const runs: Run[] = []
for (let round = 1; round <= rounds; round++) {
  for (const server of ['fleet', 'mosquitto'] as const) {
    const r = await measure(server, round)
    runs.push(r)
    console.log(`[round ${round}/${rounds}] ${server}: ${r.connected} cars, ${r.ackedPerS} of ${r.offeredPerS} msg/s acknowledged, server ${r.serverCores} cores = ${r.serverUsPerMessage} µs/msg${server === 'fleet' ? `, Kafka ${r.kafkaUsPerMessage} µs/msg` : ''}, load generator ${r.loadGeneratorUsPerMessage} µs/msg, machine ${r.machineBusyCores} of ${cpus().length} busy, RSS ${r.serverRssMB} MB, errors ${r.errors}`)
    await sleep(3_000)
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!
const fleetUs = median(runs.filter(r => r.server === 'fleet').map(r => r.serverUsPerMessage))
const fleetKafkaUs = median(runs.filter(r => r.server === 'fleet').map(r => r.kafkaUsPerMessage))
const mosqUs = median(runs.filter(r => r.server === 'mosquitto').map(r => r.serverUsPerMessage))
const ratios = Array.from({ length: rounds }, (_, i) => {
  const f = runs.find(r => r.server === 'fleet' && r.round === i + 1)!
  const m = runs.find(r => r.server === 'mosquitto' && r.round === i + 1)!
  return round2(f.serverUsPerMessage / m.serverUsPerMessage)
})
console.log(`server CPU per message (median of ${rounds}): fleet broker ${fleetUs} µs (+ Kafka ${fleetKafkaUs} µs), Mosquitto ${mosqUs} µs: fleet / Mosquitto ×${round2(fleetUs / mosqUs)} (rounds ×${ratios.join(', ×')}; goal ≤ ×2)`)
const out = process.env.OUT ?? 'results/bench-ingest-soak.json'
mkdirSync(dirname(`${root}/${out}`), { recursive: true })
writeFileSync(`${root}/${out}`, JSON.stringify({
  bench: 'ingest-soak',
  when: new Date().toISOString(),
  machine: { cpus: cpus().length, model: cpus()[0]?.model, load1AtStart: round2(load1), note: 'a shared 2-core machine: the load generator runs on it too' },
  shape: { cars, intervalMs, holdS, simProcs, client: 'lean (services/simulator)', qos: 1, payload: 'simulated telemetry JSON (~600 B)' },
  brokerNodeFlags: BROKER_NODE_FLAGS,
  serverUsPerMessage: { fleet: fleetUs, mosquitto: mosqUs, ratio: round2(fleetUs / mosqUs), ratioPerRound: ratios, fleetKafka: fleetKafkaUs },
  runs
}, null, 2) + '\n')
console.log(`→ ${out}`)
process.exit(0)
