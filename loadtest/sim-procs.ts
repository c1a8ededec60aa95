// Simulator processes as a load generator: a fleet split over several processes (one process may
// hold at most ~19,000 sockets here), either the Node simulator (services/simulator/src/main.ts) or
// the Go one (loadtest/k6/cmd/fleet-cars, same settings and report lines), their periodic 'fleet'
// report lines collected so a load test can merge connected cars, acknowledged messages/s and
// PUBACK latency samples across processes. Every child is killed when this process exits.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { setPriority } from 'node:os'
import { cpuSeconds, rssBytes } from '../bench/proc-stats.js'
import { provisionForLoad } from '../services/shared/src/load-credentials.js'

export interface SimReport { at: number, connected: number, acked: number, published: number, errors: number, commandsAnswered: number, pubackSampleMs: number[], /** the Go generator's: how late its loop fired telemetry ticks (ms) */ tickLateSampleMs: number[] }

export interface SimFleetOptions {
  urls: string[]
  prefix: string
  cars: number
  procs: number
  intervalMs: number
  rampPerS: number
  reportMs: number
  env?: Record<string, string>
  /** CPU priority of the simulator processes (os.setPriority, 0 = as everything else, 19 = last). */
  nice?: number
  /** Run the Go fleet (goGenerator()) instead of the Node simulator. */
  go?: GoGenerator
}

/** The Go load generator's binary and one credentials file per process. */
export interface GoGenerator { bin: string, credentialsFiles: string[] }

/** Which generator a load script runs: SIM_CLIENT=go, or the Node simulator's client (lean, mqttjs). */
export const simClientOf = (env: NodeJS.ProcessEnv) => env.SIM_CLIENT ?? 'lean'

/**
 * Builds the Go fleet (scripts/build-fleet-cars.sh) and provisions its cars in Redis, one
 * credentials file per process (the Go fleet reads credentials, it does not provision).
 */
export async function goGenerator (o: { redisUrl: string, prefix: string, cars: number, procs: number }): Promise<GoGenerator> {
  const bin = execFileSync(`${root}scripts/build-fleet-cars.sh`, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim()
  const dir = `${root}results/tmp`
  mkdirSync(dir, { recursive: true })
  const perProc = Math.ceil(o.cars / o.procs)
  const credentialsFiles: string[] = []
  for (let i = 0; i < o.procs; i++) {
    const ids = Array.from({ length: Math.max(0, Math.min(perProc, o.cars - i * perProc)) }, (_, k) => `${o.prefix}-${String(i * perProc + k).padStart(5, '0')}`)
    const file = `${dir}/${o.prefix}-credentials-${i}.tsv`
    writeFileSync(file, [...(await provisionForLoad(o.redisUrl, ids))].map(([id, pw]) => `${id}\t${pw}\n`).join(''), { mode: 0o600 })
    credentialsFiles.push(file)
  }
  return { bin, credentialsFiles }
}

const root = new URL('..', import.meta.url).pathname
const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))
const all = new Set<ChildProcess>()
process.once('exit', () => { for (const c of all) c.kill('SIGKILL') })

/**
 * A Go fleet on loopback connects from addresses of its own, 127.0.<i+1>.1–4: from one address,
 * ~100,000 connections to a handful of broker ports made the kernel's ephemeral-port search in
 * connect() 90 % of the generator's CPU and stalled its loop (and with it the PUBACK clock) for
 * seconds during the ramp.
 */
function loopbackSources (urls: string[], proc: number): Record<string, string> {
  if (!urls.every(u => new URL(u).hostname === '127.0.0.1')) return {}
  return { FLEET_SIM_SOURCE_ADDRESSES: [1, 2, 3, 4].map(h => `127.0.${(proc % 250) + 1}.${h}`).join(',') }
}

export function startSimulators (o: SimFleetOptions) {
  const latest = new Map<number, SimReport>()
  const history: SimReport[][] = []
  const children: ChildProcess[] = []
  /** Why a simulator process ended before stop() (its exit code and last error line). */
  let failure: string | undefined
  let stopping = false
  const perProc = Math.ceil(o.cars / o.procs)
  for (let i = 0; i < o.procs; i++) {
    history.push([])
    const [cmd, args] = o.go === undefined ? [process.execPath, ['--import', 'tsx', 'services/simulator/src/main.ts']] : [o.go.bin, []]
    const child = spawn(cmd, args, {
      cwd: root,
      env: {
        ...process.env,
        ...(o.go === undefined ? {} : { FLEET_SIM_CREDENTIALS_FILE: o.go.credentialsFiles[i]!, ...loopbackSources(o.urls, i) }),
        FLEET_SIM_MQTT_URL: o.urls.join(','),
        FLEET_SIM_CARS: String(Math.max(0, Math.min(perProc, o.cars - i * perProc))),
        FLEET_SIM_FIRST_CAR: String(i * perProc),
        FLEET_SIM_ID_PREFIX: o.prefix,
        FLEET_SIM_INTERVAL_MS: String(o.intervalMs),
        FLEET_SIM_RAMP_PER_S: String(Math.max(1, Math.ceil(o.rampPerS / o.procs))),
        FLEET_SIM_REPORT_MS: String(o.reportMs),
        FLEET_SIM_REPORT_SAMPLES: 'true',
        // Load figures are of a healthy fleet unless asked otherwise (npm start's fleet has failing cars).
        FLEET_SIM_FAILING_PCT: process.env.FLEET_SIM_FAILING_PCT ?? '0',
        FLEET_LOG_LEVEL: 'info',
        ...o.env
      },
      stdio: ['ignore', 'pipe', 'inherit']
    })
    all.add(child)
    if ((o.nice ?? 0) !== 0 && child.pid !== undefined) setPriority(child.pid, o.nice!)
    let lastError = ''
    child.once('exit', (code, signal) => {
      all.delete(child)
      if (!stopping && failure === undefined && (code !== 0 || signal !== null)) failure = `simulator process ${i} exited (${signal ?? `code ${code}`})${lastError === '' ? '' : `: ${lastError}`}`
    })
    let buf = ''
    child.stdout!.on('data', d => {
      buf += d
      let nl
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl)
        buf = buf.slice(nl + 1)
        try {
          const r = JSON.parse(line)
          if (typeof r.level === 'number' && r.level >= 50) {
            // a simulator's errors (a bad setting, a lost broker) would otherwise vanish with its stdout
            lastError = String(r.msg)
            process.stderr.write(`[simulator ${i}] ${lastError}\n`)
          }
          if (r.msg !== 'fleet') continue
          const report: SimReport = { at: performance.now(), connected: r.connected, acked: r.acked, published: r.published, errors: r.errors, commandsAnswered: r.commandsAnswered, pubackSampleMs: r.pubackSampleMs ?? [], tickLateSampleMs: r.tickLateSampleMs ?? [] }
          latest.set(i, report)
          history[i]!.push(report)
        } catch {}
      }
    })
    children.push(child)
  }
  const sum = (f: (r: SimReport) => number) => [...latest.values()].reduce((n, r) => n + f(r), 0)
  return {
    children,
    connected: () => sum(r => r.connected),
    /** Waits until `cars` are connected or performance.now() passes `deadline`; throws at once if a
     *  simulator process ended (it would never connect its cars). Returns how many are connected. */
    async untilConnected (cars: number, deadline: number, stepMs = 250): Promise<number> {
      while (sum(r => r.connected) < cars && performance.now() < deadline) {
        if (failure !== undefined) throw new Error(failure)
        await sleep(stepMs)
      }
      if (failure !== undefined) throw new Error(failure)
      return sum(r => r.connected)
    },
    errors: () => sum(r => r.errors),
    acked: () => sum(r => r.acked),
    commandsAnswered: () => sum(r => r.commandsAnswered),
    /** Acknowledged messages/s, PUBACK samples and (Go) tick lateness samples (sorted) from the reports received after `since` (performance.now()). */
    window (since: number, until = Infinity) {
      let rate = 0
      const samples: number[] = []
      const tickLate: number[] = []
      for (const h of history) {
        const w = h.filter(r => r.at >= since && r.at <= until)
        for (const r of w) samples.push(...r.pubackSampleMs)
        for (const r of w) tickLate.push(...r.tickLateSampleMs)
        const before = h.filter(r => r.at < since).at(-1)
        const first = before ?? w[0]
        const last = w.at(-1)
        if (first !== undefined && last !== undefined && last.at > first.at) rate += (last.acked - first.acked) / ((last.at - first.at) / 1_000)
      }
      return { ackedPerS: Math.round(rate), samples: samples.sort((a, b) => a - b), tickLate: tickLate.sort((a, b) => a - b) }
    },
    cpu: () => children.reduce((s, c) => { try { return s + cpuSeconds(c.pid!) } catch { return s } }, 0),
    rss: () => children.reduce((s, c) => { try { return s + rssBytes(c.pid!) } catch { return s } }, 0),
    stop: async () => {
      stopping = true
      for (const c of children) if (c.exitCode === null) c.kill('SIGTERM')
      await Promise.race([
        Promise.all(children.map(c => new Promise(resolve => c.exitCode !== null ? resolve(null) : c.once('exit', resolve)))),
        sleep(60_000).then(() => { for (const c of children) c.kill('SIGKILL') })
      ])
    }
  }
}

export type SimFleet = ReturnType<typeof startSimulators>

/** Percentile of a sorted array, one decimal; null when empty. */
export const pct = (sorted: number[], p: number) => sorted.length === 0 ? null : Math.round(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! * 10) / 10
