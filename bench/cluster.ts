// bench:cluster — the ingest benchmark across 2 broker processes sharing Redis (fleet's routed
// emitter: telemetry never crosses Redis). The stock-aedes-cluster comparison (every message
// through Redis) left with FLEET_BROKER_EMITTER; its last figures are in docs/benchmarks.md.
// (Idle capacity, which this bench measured too, is bench:idle now.)
// Writes results/bench-cluster.json. Needs the stack (scripts/stack.sh up).
//   DURATION_S=20 npm run bench:cluster
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { describe, runIngest } from './ingest-run.js'
import { stackPid } from './proc-stats.js'

const env = (k: string, d: number) => Number(process.env[k] ?? d)
const root = new URL('..', import.meta.url).pathname
const durationS = env('DURATION_S', 20)

const redisPid = stackPid('redis')

const ingest = []
const r = await runIngest({ label: '2 brokers, routed', brokers: 2, cars: 100, inflight: 10, durationS, loadProcs: 2 }, redisPid)
console.log(describe(r))
ingest.push(r)

mkdirSync(`${root}/results`, { recursive: true })
writeFileSync(`${root}/results/bench-cluster.json`, JSON.stringify({ bench: 'cluster', when: new Date().toISOString(), machine: { cpus: cpus().length, model: cpus()[0]?.model }, ingest }, null, 2) + '\n')
