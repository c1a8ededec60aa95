// bench:cluster — the ingest benchmark across 2 broker processes, with fleet's routed emitter
// and, for comparison, with every message through Redis as a stock aedes cluster does it.
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
for (const emitter of ['routed', 'redis-all'] as const) {
  const r = await runIngest({ label: `2 brokers, ${emitter}`, brokers: 2, cars: 100, inflight: 10, durationS, loadProcs: 2, brokerEnv: { FLEET_BROKER_EMITTER: emitter } }, redisPid)
  console.log(describe(r))
  ingest.push(r)
}

mkdirSync(`${root}/results`, { recursive: true })
writeFileSync(`${root}/results/bench-cluster.json`, JSON.stringify({ bench: 'cluster', when: new Date().toISOString(), machine: { cpus: cpus().length, model: cpus()[0]?.model }, ingest }, null, 2) + '\n')
