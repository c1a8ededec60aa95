// bench:ingest — M cars publish QoS 1 telemetry into one broker process with real Kafka ingest for
// a fixed time. Prints and writes results/bench-ingest.json: acknowledged messages/s, PUBACK
// latency p50/p99, broker CPU and RSS. Needs the stack (scripts/stack.sh up).
//   CARS=50 INFLIGHT=20 DURATION_S=20 LOAD_PROCS=1 npm run bench:ingest
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { describe, runIngest } from './ingest-run.js'

const env = (k: string, d: number) => Number(process.env[k] ?? d)
const result = await runIngest({
  label: 'ingest',
  brokers: 1,
  cars: env('CARS', 50),
  inflight: env('INFLIGHT', 20),
  durationS: env('DURATION_S', 20),
  loadProcs: env('LOAD_PROCS', 1)
})
console.log(describe(result))
const root = new URL('..', import.meta.url).pathname
mkdirSync(`${root}/results`, { recursive: true })
writeFileSync(`${root}/results/bench-ingest.json`, JSON.stringify({ bench: 'ingest', when: new Date().toISOString(), machine: { cpus: cpus().length, model: cpus()[0]?.model }, payload: 'validTelemetry JSON, about 600 B', ...result }, null, 2) + '\n')
