// npm run sizing — broker pods for a fleet, from the measured figures: cars per pod, connection
// cap, memory request and limit with TLS, CPU request. Reads results/bench-idle-tls.json
// (bench:idle with TLS=1), results/bench-held-memory.json (bench:held-memory) and
// results/soak-65k.json (npm run soak); writes results/sizing.json, which
// test/deploy-manifests.test.ts holds the chart's production values to.
// The arithmetic, step by step, is in docs/deploy.md ("Sizing for 100k cars").
//   CARS=100000 npm run sizing
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import type { IdleResult } from './idle-run.js'

const root = new URL('..', import.meta.url).pathname
const read = <T>(file: string): T => JSON.parse(readFileSync(`${root}/${file}`, 'utf8')) as T
const cars = Number(process.env.CARS ?? 100_000)

interface TlsIdle { when: string, source: string, connected: number, rssStartMB: number, rssSettledMB: number, slopeKB: number, heapSlopeKB?: number, stormKBPerCar: number }
interface HeldMemory { source: string, cars: number, rssBeforeMB: number, rssPeakMB: number, heldBytesPerPod: number }

/** Idle cars over TLS: bench:idle with TLS=1 when it has been run; else composed from bench:idle
 *  over TCP and bench:tls's extra per TLS connection (3,000 cars, read 3 s after connecting: an
 *  upper bound on the settled extra), labelled so. */
function tlsIdle (): TlsIdle {
  if (existsSync(`${root}/results/bench-idle-tls.json`)) {
    const r = read<{ when: string, results: IdleResult[] }>('results/bench-idle-tls.json')
    const idle = r.results[0]!
    return { when: r.when, source: 'results/bench-idle-tls.json', connected: idle.connected, rssStartMB: idle.rssStartMB, rssSettledMB: idle.steps.at(-1)!.rssSettledMB, slopeKB: idle.rssPerConnectionSlopeKB, ...(idle.heapPerConnectionSlopeKB === undefined ? {} : { heapSlopeKB: idle.heapPerConnectionSlopeKB }), stormKBPerCar: idle.rssPerConnectionJustAfterKB }
  }
  const tcp = read<{ when: string, results: IdleResult[] }>('results/bench-idle.json')
  const extra = read<{ when: string, extraKBPerTlsConnection: number }>('results/bench-tls.json')
  const idle = tcp.results[0]!
  return {
    when: tcp.when,
    source: `composed: results/bench-idle.json (TCP, ${tcp.when.slice(0, 10)}) + results/bench-tls.json's ${extra.extraKBPerTlsConnection} KB per TLS connection (${extra.when.slice(0, 10)})`,
    connected: idle.connected,
    rssStartMB: idle.rssStartMB,
    rssSettledMB: idle.steps.at(-1)!.rssSettledMB + idle.connected * extra.extraKBPerTlsConnection / 1024,
    slopeKB: idle.rssPerConnectionSlopeKB + extra.extraKBPerTlsConnection,
    stormKBPerCar: idle.rssPerConnectionJustAfterKB + extra.extraKBPerTlsConnection
  }
}

/** A broker's RSS under a full-window Kafka outage: bench:held-memory's output when it has been
 *  saved; else docs/security.md's row for the default budget (2026-12-05, 4,000 cars). */
function heldMemory (): HeldMemory {
  if (existsSync(`${root}/results/bench-held-memory.json`)) return { source: 'results/bench-held-memory.json', ...read<Omit<HeldMemory, 'source'>>('results/bench-held-memory.json') }
  return { source: 'docs/security.md (bench:held-memory, default budget, 4,000 cars)', cars: 4_000, rssBeforeMB: 297, rssPeakMB: 529, heldBytesPerPod: 268_435_456 }
}

const idle = tlsIdle()
const held = heldMemory()
const soak = read<{ when: string, params: { cars: number, brokers: number, intervalMs: number }, cores: { byRole: { brokers: number } } }>('results/soak-65k.json')

// The cap is the most cars one process was measured with (one process may hold at most 20,000
// open files on the measuring machine: more would be an extrapolation).
const cap = Math.floor(idle.connected / 1000) * 1000
// Pods such that the fleet still fits at the cap with one pod gone (a node drain, a crash), and
// the autoscaler's target per pod at that many pods.
const pods = Math.ceil(cars / cap) + 1
const targetPerPod = Math.ceil(cars / pods / 100) * 100
// Memory (MB = 2^20 bytes, as /proc reports it). A Kafka outage holds messages on every pod at
// once (bounded by FLEET_HELD_BYTES_PER_POD) and fills the paused sockets' buffers: the growth
// measured, scaled by cars (an over-estimate: the budget part does not grow with cars). The
// request covers the settled RSS at the target (the RSS measured at the last step, moved along the
// settled slope) plus that outage, which all pods meet together. The limit covers a pod filling up
// to its cap in a reconnect storm, with the storm's garbage not yet collected (RSS 5 s after
// connecting, per car, over the RSS at start), plus the outage at the cap.
const heldGrowthMB = (n: number) => (held.rssPeakMB - held.rssBeforeMB) * Math.max(1, n / held.cars)
const steadyMB = idle.rssSettledMB + (targetPerPod - idle.connected) * idle.slopeKB / 1024
const requestMB = steadyMB + heldGrowthMB(targetPerPod)
const stormMB = idle.rssStartMB + cap * idle.stormKBPerCar / 1024
const limitMB = stormMB + heldGrowthMB(cap)
// CPU at one message per 10 s per car: the soak's brokers' cores over its cars (plain TCP).
const coresPerCar = soak.cores.byRole.brokers / soak.params.cars
const roundUp = (mb: number, step = 128) => Math.ceil(mb / step) * step

const sizing = {
  when: new Date().toISOString(),
  cars,
  inputs: {
    idleTls: idle,
    heldMemory: held,
    soak: { when: soak.when, cars: soak.params.cars, brokers: soak.params.brokers, brokerCores: soak.cores.byRole.brokers, intervalMs: soak.params.intervalMs }
  },
  maxConnectionsPerPod: cap,
  pods,
  targetPerPod,
  memory: { steadyAtTargetMB: Math.round(steadyMB), heldAtTargetMB: Math.round(heldGrowthMB(targetPerPod)), requestMB: Math.round(requestMB), stormAtCapMB: Math.round(stormMB), heldAtCapMB: Math.round(heldGrowthMB(cap)), limitMB: Math.round(limitMB), requestMi: roundUp(requestMB), limitMi: roundUp(limitMB) },
  cpu: { coresAtTargetSteady: Math.round(coresPerCar * targetPerPod * 1000) / 1000, millicoresPer1000Cars: Math.round(coresPerCar * 1_000_000 * 10) / 10 }
}
console.log(`${cars} cars: ${pods} broker pods (one may be lost), ${targetPerPod} cars per pod targeted, at most ${cap}; ` +
  `memory request ${sizing.memory.requestMi}Mi (settled at the target ${sizing.memory.steadyAtTargetMB} MB + Kafka outage ${sizing.memory.heldAtTargetMB} MB), ` +
  `limit ${sizing.memory.limitMi}Mi (storm to the cap ${sizing.memory.stormAtCapMB} MB + Kafka outage ${sizing.memory.heldAtCapMB} MB); ` +
  `CPU at one message per 10 s ${sizing.cpu.coresAtTargetSteady} cores per pod (${sizing.cpu.millicoresPer1000Cars} millicores per 1,000 cars)`)
writeFileSync(`${root}/results/sizing.json`, JSON.stringify(sizing, null, 2) + '\n')
