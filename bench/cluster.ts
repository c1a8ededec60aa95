// bench:cluster — (1) the ingest benchmark across 2 broker processes, with fleet's routed emitter
// and, for comparison, with every message through Redis as a stock aedes cluster does it;
// (2) idle-connection capacity of one broker process with Redis-backed sessions: RSS per idle
// authenticated connection and connect rate. One process may hold at most 20,000 open files
// here, so the 50,000-connection figure is an extrapolation from the measured slope, labelled so.
// Writes results/bench-cluster.json. Needs the stack (scripts/stack.sh up).
//   IDLE_CARS=15000 DURATION_S=20 npm run bench:cluster
import { spawn } from 'node:child_process'
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { startBrokerProcess } from '../test/helpers/broker-process.js'
import { describe, runIngest } from './ingest-run.js'
import { rssBytes } from './proc-stats.js'

const env = (k: string, d: number) => Number(process.env[k] ?? d)
const root = new URL('..', import.meta.url).pathname
const MB = 2 ** 20
const durationS = env('DURATION_S', 20)
const idleCars = env('IDLE_CARS', 15_000)
const skipIngest = process.env.SKIP_INGEST === '1'

let redisPid: number | undefined
try {
  redisPid = Number(readFileSync(`${root}/.stack/redis/pid`, 'utf8'))
} catch {}

const ingest = []
if (!skipIngest) {
  for (const emitter of ['routed', 'redis-all'] as const) {
    const r = await runIngest({ label: `2 brokers, ${emitter}`, brokers: 2, cars: 100, inflight: 10, durationS, loadProcs: 2, brokerEnv: { FLEET_BROKER_EMITTER: emitter } }, redisPid)
    console.log(describe(r))
    ingest.push(r)
  }
}

// Idle capacity: one broker process, load processes of at most 15,000 connections each.
const broker = await startBrokerProcess('bench-idle', { FLEET_CONNECT_RATE_PER_S: '100000', FLEET_MAX_CONNECTIONS: '19500', FLEET_LOG_LEVEL: 'warn' })
const pid = broker.child.pid!
await new Promise(resolve => setTimeout(resolve, 1_000))
const rss0 = rssBytes(pid)
const perProc = 15_000
const procs = Math.ceil(idleCars / perProc)
const t0 = performance.now()
const loaders = Array.from({ length: procs }, (_, i) => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/idle-load.ts'], {
    cwd: root,
    env: { ...process.env, PORT: String(broker.mqttPort), CARS: String(Math.min(perProc, idleCars - i * perProc)), PREFIX: `idle-${Date.now().toString(36)}-${i}`, LOCAL_ADDRESS: `127.0.0.${i + 2}` },
    stdio: ['pipe', 'pipe', 'inherit']
  })
  let out = ''
  const ready = new Promise<{ connected: number, failed: number, seconds: number }>((resolve, reject) => {
    child.stdout!.on('data', d => {
      out += d
      if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0]!))
    })
    child.on('exit', code => reject(new Error(`idle load exited with ${code}`)))
  })
  return { child, ready }
})
const loaded = await Promise.all(loaders.map(l => l.ready))
const connectSeconds = (performance.now() - t0) / 1_000
await new Promise(resolve => setTimeout(resolve, 5_000)) // let allocations settle
const rss1 = rssBytes(pid)
const connected = loaded.reduce((n, l) => n + l.connected, 0)
const failed = loaded.reduce((n, l) => n + l.failed, 0)
for (const l of loaders) l.child.stdin!.end()
await broker.kill('SIGTERM')
const perConnKB = (rss1 - rss0) / connected / 1024
const idle = {
  connected,
  failed,
  connectSeconds: Math.round(connectSeconds * 10) / 10,
  connectsPerSecond: Math.round(connected / connectSeconds),
  rssBeforeMB: Math.round(rss0 / MB),
  rssAfterMB: Math.round(rss1 / MB),
  rssPerConnectionKB: Math.round(perConnKB * 10) / 10,
  extrapolatedRssAt50kMB: Math.round((rss0 + perConnKB * 1024 * 50_000) / MB),
  note: 'measured up to the connections above in one process (20,000 open files per process here); the 50k figure is rss before + 50,000 × measured KB per connection, an extrapolation'
}
console.log(`idle: ${connected} persistent-session cars held by one broker process (${failed} failed), connected in ${idle.connectSeconds} s (${idle.connectsPerSecond}/s), RSS ${idle.rssBeforeMB} → ${idle.rssAfterMB} MB = ${idle.rssPerConnectionKB} KB per connection; extrapolated to 50,000: ${idle.extrapolatedRssAt50kMB} MB`)
mkdirSync(`${root}/results`, { recursive: true })
writeFileSync(`${root}/results/bench-cluster.json`, JSON.stringify({ bench: 'cluster', when: new Date().toISOString(), machine: { cpus: cpus().length, model: cpus()[0]?.model }, ingest, idle }, null, 2) + '\n')
