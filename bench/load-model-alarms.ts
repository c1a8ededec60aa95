// bench:load-model-alarms — how many of a load generator's healthy cars the scorer would flag: the
// messages of CARS cars over MINUTES at INTERVAL_MS, from each car model the load tools use, scored
// offline exactly as the scorer does (features, model, threshold; no Kafka or Redis). A load model
// the autoencoder reads as failing makes the scorer do anomaly work for those rows (records to
// vehicle.anomalies, Redis writes), so a soak driven by it measures the wrong scorer.
//   CARS=200 MINUTES=20 INTERVAL_MS=10000 npm run bench:load-model-alarms
import { createCar } from '../loadtest/k6/car-telemetry.js'
import { createVehicle } from '../services/shared/src/vehicle-model.js'
import { createRuntime, parseRecords, scoreRows, type TelemetryRecord } from '../services/scorer/src/batch-scoring.js'
import { loadModel } from '../services/scorer/src/model-files.js'
import { loadTf } from '../services/scorer/src/tf-backend.js'
import { envNumber } from './load-shape.js'

const cars = envNumber('CARS', 200)
const minutes = envNumber('MINUTES', 20)
const intervalMs = envNumber('INTERVAL_MS', 10_000)
const steps = Math.floor(minutes * 60_000 / intervalMs)
const { tf } = await loadTf('wasm', '')
const { model, metadata } = await loadModel(tf, 'model')

type Source = (i: number) => { next: (ts: number) => object }
const sources: Record<string, Source> = {
  // the Node simulator's cars (services/shared/src/vehicle-model.ts), healthy
  'vehicle-model (Node simulator)': i => { const v = createVehicle({ vehicleId: `alarm-v-${i}`, seed: 1_000 + i, failure: null }); return { next: ts => v.next(intervalMs / 1_000, ts) } },
  // k6's cars and the Go generator's (loadtest/k6/car-telemetry.ts = xk6-mqtt/carfleet/model.go)
  'car-telemetry (k6, Go fleet-cars)': i => { const c = createCar(`alarm-k-${i}`, i + 1, intervalMs); return { next: ts => c.next(ts) } }
}
for (const [name, make] of Object.entries(sources)) {
  const rt = createRuntime(tf, model, metadata)
  const fleet = Array.from({ length: cars }, (_, i) => make(i))
  let rows = 0
  let alarms = 0
  const carsAlarmed = new Set<number>()
  const modes = new Map<string, number>()
  const t0 = Date.UTC(2026, 11, 6, 8)
  for (let s = 0; s < steps; s++) {
    const ts = t0 + s * intervalMs
    const records: TelemetryRecord[] = fleet.map((c, i) => {
      const m = c.next(ts) as { vehicleId: string }
      return { partition: 0, offset: String(s * cars + i), key: Buffer.from(m.vehicleId), value: Buffer.from(JSON.stringify(m)), timestamp: String(ts) }
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
  console.log(`${name}: ${rows} messages of ${cars} healthy cars over ${minutes} min at ${intervalMs / 1_000} s: ${alarms} flagged (${(alarms / rows * 100).toFixed(2)} %), ${carsAlarmed.size} cars with an alarm; ${JSON.stringify(Object.fromEntries(modes))}`)
}
