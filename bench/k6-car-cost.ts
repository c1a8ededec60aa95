// bench:k6-car — what k6's car (loadtest/k6/car-telemetry.ts) costs per message inside k6's
// interpreter: CARS cars × MESSAGES messages each, made and JSON.stringify'd in one k6 process
// (loadtest/k6/car-model-dump.ts with TIMING=1), at 1 s and 10 s intervals (the model integrates
// in ≤ 1 s steps, so 10 s is ten steps). Peers in the same run: the same model in Node (V8), and
// with BASELINE=<git ref> that ref's k6 car (e.g. the small model before the bundle). ROUNDS rounds
// interleaved, the median reported. Writes results/bench-k6-car.json (OUT).
//   BASELINE=51dde3b npm run bench:k6-car
import { execFileSync } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { createCar } from '../loadtest/k6/car-telemetry.js'
import { findK6 } from '../test/helpers/k6-bin.js'
import { k6CarTiming, type K6ModelCar } from '../test/helpers/k6-car-dump.js'
import { envNumber } from './load-shape.js'

const root = new URL('..', import.meta.url).pathname
const carsN = envNumber('CARS', 200)
const messages = envNumber('MESSAGES', 100)
const rounds = envNumber('ROUNDS', 3)
const baseline = process.env.BASELINE ?? ''
const out = process.env.OUT ?? 'results/bench-k6-car.json'
const found = findK6()
if ('missing' in found) throw new Error(found.missing)
const k6 = found.bin

/** The baseline's k6 car files in a directory of their own, with this checkout's dump script. */
function baselineDump (ref: string): { script: string, dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'fleet-k6-car-base-'))
  for (const file of ['car-telemetry.ts', 'vehicle-model.js']) {
    try {
      writeFileSync(join(dir, file), execFileSync('git', ['-C', root, 'show', `${ref}:loadtest/k6/${file}`], { stdio: ['ignore', 'pipe', 'ignore'] }))
    } catch {} // vehicle-model.js does not exist before the bundle
  }
  copyFileSync(`${root}loadtest/k6/car-model-dump.ts`, join(dir, 'car-model-dump.ts'))
  return { script: join(dir, 'car-model-dump.ts'), dir }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const base = baseline === '' ? null : baselineDump(baseline)
const rows: Array<Record<string, unknown>> = []
try {
  for (const intervalMs of [1_000, 10_000]) {
    const cars: K6ModelCar[] = Array.from({ length: carsN }, (_, i) => ({ vehicleId: `k6-car-${String(i + 1).padStart(5, '0')}`, seed: i + 1, intervalMs, ts0: Date.UTC(2026, 11, 6, 8), n: messages }))
    const total = carsN * messages
    const k6Us: number[] = []
    const baseUs: number[] = []
    const nodeUs: number[] = []
    for (let r = 0; r < rounds; r++) {
      k6Us.push(k6CarTiming(k6, cars).ms * 1_000 / total)
      if (base !== null) baseUs.push(k6CarTiming(k6, cars, base.script).ms * 1_000 / total)
      const started = performance.now()
      const fleet = cars.map(c => createCar(c.vehicleId, c.seed, c.intervalMs))
      let bytes = 0
      for (let k = 0; k < messages; k++) for (let i = 0; i < fleet.length; i++) bytes += JSON.stringify(fleet[i]!.next(cars[i]!.ts0 + k * intervalMs)).length
      nodeUs.push((performance.now() - started) * 1_000 / total)
      if (bytes === 0) throw new Error('no messages')
    }
    const row = { intervalMs, messages: total, k6UsPerMessage: median(k6Us), k6Rounds: k6Us, ...(base === null ? {} : { baseline, baselineK6UsPerMessage: median(baseUs), baselineRounds: baseUs }), nodeUsPerMessage: median(nodeUs), nodeRounds: nodeUs }
    rows.push(row)
    console.log(`interval ${intervalMs / 1_000} s, ${total} messages: k6 car in k6 ${row.k6UsPerMessage.toFixed(1)} µs/message${base === null ? '' : `, ${baseline}'s k6 car ${median(baseUs).toFixed(1)} µs`}, the same model in Node ${row.nodeUsPerMessage.toFixed(2)} µs (median of ${rounds})`)
  }
} finally {
  if (base !== null) rmSync(base.dir, { recursive: true, force: true })
}
mkdirSync(`${root}results`, { recursive: true })
writeFileSync(`${root}${out}`, JSON.stringify({ date: new Date().toISOString(), k6, cars: carsN, messagesPerCar: messages, rounds, loadavg: loadavg(), rows }, null, 2) + '\n')
console.log(`wrote ${out}`)
