// One idle-capacity measurement: a server process (a fleet broker, or a peer) takes parked cars in
// steps (each a load process of bench/idle-load.ts: persistent session, one subscription, long
// keepalive), and its RSS is read just after each step and again once it has settled.
//
// Why settle: a connect storm leaves V8 with a heap full of garbage (CONNECT handling, Redis
// replies, token checks) that its memory reducer collects some 20–30 s after the storm, when the
// process has gone quiet. RSS read 5 s after connecting (this bench's earlier method) counted that
// garbage as if every car held it. A parked fleet is quiet for hours, so the figure that matters is
// the settled one; and the cost of one more car is the slope between two settled steps, which also
// cancels one-off costs (V8's young generation shrinking after start-up, lazily built caches).
import { spawn, type ChildProcess } from 'node:child_process'
import { isVehicleId } from '../services/shared/src/topics.js'
import { rssBytes } from './proc-stats.js'

/** `collects`: a garbage-collected runtime whose RSS falls some time after a storm (not Mosquitto).
 *  `loadEnv`: extra settings for the load processes (TLS_CA: connect over TLS); `heapUsedMB`: the
 *  server's live V8 heap (fleet's /metrics), read with each settled RSS. */
export interface IdleServer { label: string, port: number, pid: number, collects: boolean, stop: () => Promise<unknown>, loadEnv?: Record<string, string>, heapUsedMB?: () => Promise<number> }

export interface IdleStep {
  cars: number
  connected: number
  failed: number
  connectSeconds: number
  rssJustAfterMB: number
  rssSettledMB: number
  heapUsedSettledMB?: number
}

export interface IdleResult {
  label: string
  rssStartMB: number
  steps: IdleStep[]
  connected: number
  failed: number
  connectsPerSecond: number
  /** (RSS 5 s after the last step − RSS at start) / cars: the earlier method, garbage included. */
  rssPerConnectionJustAfterKB: number
  /** (settled RSS after the last step − settled RSS at start) / cars. */
  rssPerConnectionSettledKB: number
  /** (settled RSS after the last step − settled RSS after the first) / cars between: one more car. */
  rssPerConnectionSlopeKB: number
  /** The same slope for the live V8 heap (servers that report it). */
  heapPerConnectionSlopeKB?: number
  settleS: number
}

const root = new URL('..', import.meta.url).pathname
const MB = 2 ** 20
const PER_PROCESS = 15_000 // one load process stays below the 20,000 open files a process may hold
const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

/**
 * RSS once V8 has collected the connect storm's garbage: sampled every 2 s until it has dropped by
 * a tenth from its peak and then held for 10 s, or until `maxSeconds`; the lowest of the last 10 s.
 */
async function settledRss (pid: number, maxSeconds: number): Promise<number> {
  const samples: number[] = []
  let peak = 0
  let droppedAt = -1
  for (let t = 0; t < maxSeconds; t += 2) {
    await sleep(2_000)
    const rss = rssBytes(pid)
    samples.push(rss)
    peak = Math.max(peak, rss)
    if (droppedAt < 0 && rss < peak * 0.9) droppedAt = samples.length
    if (droppedAt >= 0 && samples.length - droppedAt >= 5) break
  }
  return Math.min(...samples.slice(-5))
}

function startLoad (port: number, cars: number, prefix: string, localAddress: string, extraEnv: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/idle-load.ts'], {
    cwd: root,
    env: { ...process.env, PORT: String(port), CARS: String(cars), PREFIX: prefix, LOCAL_ADDRESS: localAddress, ...extraEnv },
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
}

/** Connects `steps` (cars per step) to the server; load processes are closed before it returns. */
export async function measureIdle (server: IdleServer, steps: number[], settleS: number): Promise<IdleResult> {
  const loads: ChildProcess[] = []
  // Car ids are `idle-<tag>-<step>-<process>-<n>`, and a vehicle id has at most 64 characters: a
  // long label (a baseline's checkout path) made most ids invalid, and the cars were refused.
  const tag = `${server.label.replace(/[^A-Za-z0-9]+/g, '-').slice(0, 24)}-${Date.now().toString(36)}`
  const longest = `idle-${tag}-${steps.length - 1}-${Math.ceil(Math.max(...steps) / PER_PROCESS) - 1}-${PER_PROCESS - 1}`
  if (!isVehicleId(longest)) throw new Error(`bench:idle: car id ${longest} is not a valid vehicle id`)
  let address = 2
  try {
    const rssStart = await settledRss(server.pid, 10) // nothing to collect yet: the lowest of 10 s
    const rssStartJust = rssBytes(server.pid)
    const done: IdleStep[] = []
    let rssJustAfter = rssStartJust
    for (const [i, cars] of steps.entries()) {
      const t0 = performance.now()
      const procs = Array.from({ length: Math.ceil(cars / PER_PROCESS) }, (_, p) =>
        startLoad(server.port, Math.min(PER_PROCESS, cars - p * PER_PROCESS), `idle-${tag}-${i}-${p}`, `127.0.0.${address++}`, server.loadEnv ?? {}))
      loads.push(...procs.map(p => p.child))
      const loaded = await Promise.all(procs.map(p => p.ready))
      const connectSeconds = (performance.now() - t0) / 1_000
      await sleep(5_000)
      rssJustAfter = rssBytes(server.pid)
      const rssSettled = await settledRss(server.pid, server.collects ? settleS : 10)
      const heap = server.heapUsedMB === undefined ? undefined : round(await server.heapUsedMB())
      done.push({
        cars,
        connected: loaded.reduce((n, l) => n + l.connected, 0),
        failed: loaded.reduce((n, l) => n + l.failed, 0),
        connectSeconds: round(connectSeconds),
        rssJustAfterMB: round(rssJustAfter / MB),
        rssSettledMB: round(rssSettled / MB),
        ...(heap === undefined ? {} : { heapUsedSettledMB: heap })
      })
    }
    const connected = done.reduce((n, s) => n + s.connected, 0)
    const last = done.at(-1)!
    const first = done[0]!
    const between = connected - first.connected
    return {
      label: server.label,
      rssStartMB: round(rssStart / MB),
      steps: done,
      connected,
      failed: done.reduce((n, s) => n + s.failed, 0),
      connectsPerSecond: Math.round(connected / done.reduce((s, d) => s + d.connectSeconds, 0)),
      rssPerConnectionJustAfterKB: round((rssJustAfter - rssStartJust) / connected / 1024),
      rssPerConnectionSettledKB: round((last.rssSettledMB * MB - rssStart) / connected / 1024),
      rssPerConnectionSlopeKB: between > 0 ? round((last.rssSettledMB - first.rssSettledMB) * MB / between / 1024) : NaN,
      ...(between > 0 && last.heapUsedSettledMB !== undefined && first.heapUsedSettledMB !== undefined
        ? { heapPerConnectionSlopeKB: round((last.heapUsedSettledMB - first.heapUsedSettledMB) * MB / between / 1024) }
        : {}),
      settleS
    }
  } finally {
    for (const l of loads) l.stdin!.end()
    await server.stop()
  }
}

const round = (n: number) => Math.round(n * 10) / 10

export function describeIdle (r: IdleResult): string {
  const steps = r.steps.map(s => `${s.connected} cars: ${s.rssJustAfterMB} MB just after, ${s.rssSettledMB} MB settled` +
    (s.heapUsedSettledMB === undefined ? '' : ` (heap ${s.heapUsedSettledMB} MB)`)).join('; ')
  return `${r.label}: ${r.connected} idle cars (${r.failed} failed), ${r.connectsPerSecond} connects/s; RSS ${r.rssStartMB} MB at start; ${steps}. ` +
    `Per connection: ${r.rssPerConnectionSlopeKB} KB (slope between settled steps), ${r.rssPerConnectionSettledKB} KB (settled vs start), ${r.rssPerConnectionJustAfterKB} KB (5 s after connecting, garbage included)` +
    (r.heapPerConnectionSlopeKB === undefined ? '' : `; live heap ${r.heapPerConnectionSlopeKB} KB per connection (slope)`)
}
