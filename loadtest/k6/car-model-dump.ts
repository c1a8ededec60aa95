// The k6 car's messages as k6 itself makes them (Sobek's Math.log/cos/exp are Go's, not V8's):
// JSON lines, time-major, written by handleSummary to OUT for test/k6-car-model.test.ts and
// bench/k6-car-cost.ts. CARS_FILE: JSON [{ vehicleId, seed, intervalMs, ts0, n, firstSeq? }].
// With TIMING=1 it writes, instead of the lines, how long making them took.
import { createCar } from './car-telemetry.ts'

interface DumpCar { vehicleId: string, seed: number, intervalMs: number, ts0: number, n: number, firstSeq?: number }

// open() works only in the init context.
const cars = JSON.parse(open(__ENV.CARS_FILE ?? '')) as DumpCar[]

export const options = { vus: 1, iterations: 1 }

export default function (): void {}

// The messages are made here, not in the iteration: handleSummary runs in its own runtime.
export function handleSummary (): Record<string, string> {
  const started = Date.now()
  const models = cars.map(c => ({ c, car: createCar(c.vehicleId, c.seed, c.intervalMs, c.firstSeq ?? 0) }))
  const lines: string[] = []
  let messages = 0
  let bytes = 0
  for (let k = 0; models.some(m => k < m.c.n); k++) {
    for (const m of models) {
      if (k >= m.c.n) continue
      const text = JSON.stringify(m.car.next(m.c.ts0 + k * m.c.intervalMs))
      messages++
      bytes += text.length
      if (__ENV.TIMING !== '1') lines.push(text)
    }
  }
  const out = __ENV.TIMING === '1' ? JSON.stringify({ messages, bytes, ms: Date.now() - started }) + '\n' : lines.join('\n') + '\n'
  return { [__ENV.OUT ?? 'stdout']: out }
}
