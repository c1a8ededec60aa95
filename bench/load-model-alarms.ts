// bench:load-model-alarms — how many of a load generator's healthy cars the scorer would flag: the
// messages of CARS cars over MINUTES at INTERVAL_MS, from each car model the load tools use, scored
// offline exactly as the scorer does (features, model, threshold; no Kafka or Redis). A load model
// the autoencoder reads as failing makes the scorer do anomaly work for those rows (records to
// vehicle.anomalies, Redis writes), so a soak driven by it measures the wrong scorer. The Go
// generator's messages are its own (carfleet/model.go through cmd/model-dump: needs Go); k6's are
// its bundle of vehicle-model.ts (loadtest/k6/vehicle-model.js) through car-telemetry.ts.
// Writes results/load-model-alarms.json (OUT).
//   CARS=200 MINUTES=20 INTERVAL_MS=10000 npm run bench:load-model-alarms
import { mkdirSync, writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { createCar } from '../loadtest/k6/car-telemetry.js'
import { createVehicle } from '../services/shared/src/vehicle-model.js'
import { createRuntime, parseRecords, scoreRows, type TelemetryRecord } from '../services/scorer/src/batch-scoring.js'
import { loadModel } from '../services/scorer/src/model-files.js'
import { loadTf } from '../services/scorer/src/tf-backend.js'
import { buildModelDump, goModelLines } from '../test/helpers/go-model.js'
import { envNumber } from './load-shape.js'

const cars = envNumber('CARS', 200)
const minutes = envNumber('MINUTES', 20)
const intervalMs = envNumber('INTERVAL_MS', 10_000)
const steps = Math.floor(minutes * 60_000 / intervalMs)
const { tf } = await loadTf('wasm', '')
const { model, metadata } = await loadModel(tf, 'model')

const t0 = Date.UTC(2026, 11, 6, 8)
const out = process.env.OUT ?? 'results/load-model-alarms.json'
const root = new URL('..', import.meta.url).pathname
const rowsOut: Array<{ source: string, messages: number, flagged: number, flaggedPct: number, carsWithAlarm: number, modes: Record<string, number> }> = []

/** A fleet's messages, step by step: step s is every car's message (JSON text) at t0 + s × interval. */
type Source = () => (ts: number) => string[] | Promise<string[]>
const sources: Record<string, Source> = {
  // the Node simulator's cars (services/shared/src/vehicle-model.ts), healthy
  'vehicle-model (Node simulator)': () => {
    const fleet = Array.from({ length: cars }, (_, i) => createVehicle({ vehicleId: `alarm-v-${i}`, seed: 1_000 + i, failure: null }))
    return ts => fleet.map(v => JSON.stringify(v.next(intervalMs / 1_000, ts)))
  },
  // the Go generator's cars (loadtest/k6/cmd/fleet-cars: xk6-mqtt/carfleet/model.go, a port of
  // vehicle-model.ts), seeded as fleet-cars seeds them (index + FLEET_SIM_SEED × 1,000,003)
  'Go fleet-cars (carfleet/model.go)': () => {
    const lines = goModelLines(buildModelDump(), Array.from({ length: cars }, (_, i) => ({ vehicleId: `alarm-g-${i}`, seed: i + 1_000_003, intervalMs, ts0: t0, n: steps })))
    return async () => {
      const step: string[] = []
      for (let i = 0; i < cars; i++) {
        const r = await lines.next()
        if (r.done === true) throw new Error('model-dump ended early')
        step.push(r.value)
      }
      return step
    }
  },
  // k6's cars (loadtest/k6/car-telemetry.ts over the bundle vehicle-model.js), seeded as cars.ts
  // seeds them (the car number)
  'car-telemetry (k6)': () => {
    const fleet = Array.from({ length: cars }, (_, i) => createCar(`alarm-k-${i}`, i + 1, intervalMs))
    return ts => fleet.map(c => JSON.stringify(c.next(ts)))
  }
}
for (const [name, make] of Object.entries(sources)) {
  const rt = createRuntime(tf, model, metadata)
  const next = make()
  let rows = 0
  let alarms = 0
  const carsAlarmed = new Set<number>()
  const modes = new Map<string, number>()
  for (let s = 0; s < steps; s++) {
    const ts = t0 + s * intervalMs
    const records: TelemetryRecord[] = (await next(ts)).map((text, i) => {
      const m = JSON.parse(text) as { vehicleId: string }
      return { partition: 0, offset: String(s * cars + i), key: Buffer.from(m.vehicleId), value: Buffer.from(text), timestamp: String(ts) }
    })
    const parsed = parseRecords(records, 65_536, 'alarms', ts)
    if (parsed.dlq.length > 0) throw new Error(`${name}: ${parsed.dlq.length} messages refused by the schema: ${JSON.stringify(parsed.dlq[0]!.record).slice(0, 300)}`)
    for (const r of scoreRows(rt, parsed.rows, 8_192, ts).scored) {
      rows++
      if (r.anomaly === null) continue
      alarms++
      carsAlarmed.add(Number(r.row.telemetry.vehicleId.split('-').at(-1)))
      modes.set(r.failureMode ?? 'unknown', (modes.get(r.failureMode ?? 'unknown') ?? 0) + 1)
    }
  }
  rowsOut.push({ source: name, messages: rows, flagged: alarms, flaggedPct: alarms / rows * 100, carsWithAlarm: carsAlarmed.size, modes: Object.fromEntries(modes) })
  console.log(`${name}: ${rows} messages of ${cars} healthy cars over ${minutes} min at ${intervalMs / 1_000} s: ${alarms} flagged (${(alarms / rows * 100).toFixed(2)} %), ${carsAlarmed.size} cars with an alarm; ${JSON.stringify(Object.fromEntries(modes))}`)
}
mkdirSync(`${root}results`, { recursive: true })
writeFileSync(`${root}${out}`, JSON.stringify({ date: new Date().toISOString(), cars, minutes, intervalMs, modelWeightsSha256: metadata.weightsSha256, loadavg: loadavg(), sources: rowsOut }, null, 2) + '\n')
console.log(`wrote ${out}`)
