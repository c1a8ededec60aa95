// loadtest:k6 — the k6 test of a distributed run, on this machine: RUNNERS k6 processes (execution
// segments of one test, as k6-operator's runners) drive CARS provisioned cars over MQTT with TLS,
// each runner against its own server process (one process holds at most ~19,500 connections
// here), with a reconnect storm; then cmd/k6-verdict judges all runners' summaries at once. The same
// script against Debian's Mosquitto (TLS, anonymous, writes nowhere) and against fleet's brokers
// (per-car credentials, PUBACK after Kafka's ack), one after the other in one run. Writes
// results/k6-local.json. Needs the stack (scripts/stack.sh up). The ramp sets the connect rate each
// server process takes (TLS handshake, credentials, session): the TestRun's 10 min for 100k cars
// over its brokers is ~30 connects/s per broker; 20,000 cars over 4 min on 2 processes ~40/s.
//   CARS=20000 RUNNERS=2 RAMP=4m DURATION=4m STORM_AT=90s STORM_SPREAD=60s TARGETS=fleet npm run loadtest:k6
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { cpuSecondsOr0, rssBytes, stackPid } from '../bench/proc-stats.js'
import { createFleetCa, issueServerCertificate } from '../services/shared/src/fleet-pki.js'
import { provisionForLoad } from '../services/shared/src/load-credentials.js'
import { freePort, startBrokerProcess } from '../test/helpers/broker-process.js'
import { startMosquitto } from '../test/helpers/mosquitto.js'

process.env.FLEET_DEV_MODE ??= '1'
const env = (k: string, d: string) => process.env[k] ?? d
const cars = Number(env('CARS', '20000'))
const runners = Number(env('RUNNERS', '2'))
const targets = env('TARGETS', 'mosquitto,fleet').split(',') as Array<'mosquitto' | 'fleet'>
const redisUrl = env('FLEET_REDIS_URL', 'redis://127.0.0.1:16379')
const root = new URL('..', import.meta.url).pathname
const out = env('OUT', 'results/k6-local.json')
// The same script settings as testrun-100k.yaml, scaled to this machine.
const k6Env = {
  CARS: String(cars),
  CARS_PER_VU: env('CARS_PER_VU', '50'),
  INTERVAL_MS: env('INTERVAL_MS', '10000'),
  RAMP: env('RAMP', '120s'),
  DURATION: env('DURATION', '180s'),
  STORM_AT: env('STORM_AT', '60s'),
  STORM_SPREAD: env('STORM_SPREAD', '30s'),
  STORM_RECONNECT_P99_MS: env('STORM_RECONNECT_P99_MS', '120000'),
  STORM_PUBACK_P99_MS: env('STORM_PUBACK_P99_MS', '2000'),
  MIN_ONLINE_RATE: env('MIN_ONLINE_RATE', '0.999'),
  MAX_CONNECT_ERRORS: env('MAX_CONNECT_ERRORS', '100000'),
  MAX_LOST: '0',
  MAX_ERROR_RATE: '0.001',
  PUBACK_P95_MS: env('PUBACK_P95_MS', '250'),
  PUBACK_P99_MS: env('PUBACK_P99_MS', '500'),
  GOGC: '200',
  TLS_SERVER_NAME: 'localhost'
}
const round2 = (x: number) => Math.round(x * 100) / 100
const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

const k6 = execFileSync(`${root}scripts/build-k6.sh`, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim()
const verdictBin = k6.replace(/k6-fleet-([0-9a-f]+)$/, 'k6-verdict-$1')
const dir = mkdtempSync(join(tmpdir(), 'fleet-k6-local-'))
const ca = await createFleetCa('k6 local CA')
const cert = await issueServerCertificate(ca, ['localhost', '127.0.0.1'])
const files = { ca: join(dir, 'ca.pem'), cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') }
writeFileSync(files.ca, ca.certPem)
writeFileSync(files.cert, cert.certPem)
writeFileSync(files.key, cert.keyPem)
// Mosquitto started as root reads its files as the user "mosquitto": a throw-away key it can read.
chmodSync(dir, 0o755)

interface Server { pid: number, tlsPort: number, stop: () => Promise<unknown> }
async function startServer (target: 'mosquitto' | 'fleet', i: number, prefix: string): Promise<Server> {
  const tlsPort = await freePort()
  if (target === 'mosquitto') {
    const m = await startMosquitto([`listener ${tlsPort} 127.0.0.1`, `cafile ${files.ca}`, `certfile ${files.cert}`, `keyfile ${files.key}`])
    return { pid: m.child.pid!, tlsPort, stop: m.stop }
  }
  const b = await startBrokerProcess(`${prefix}-broker-${i}`, { FLEET_MQTTS_PORT: String(tlsPort), FLEET_MQTT_WSS_PORT: '-1', FLEET_TLS_CERT_FILE: files.cert, FLEET_TLS_KEY_FILE: files.key, FLEET_TLS_CLIENT_AUTH: 'password', FLEET_MAX_CONNECTIONS: '19500', FLEET_LOG_LEVEL: 'warn' })
  return { pid: b.child.pid!, tlsPort, stop: () => b.kill('SIGTERM') }
}

const frac = (i: number) => i === 0 ? '0' : i === runners ? '1' : `${i}/${runners}`
const sequence = Array.from({ length: runners + 1 }, (_, i) => frac(i)).join(',')

async function runTarget (target: 'mosquitto' | 'fleet') {
  const prefix = `k6l-${target.slice(0, 4)}-${Date.now().toString(36)}`
  const summaries = join(dir, target)
  mkdirSync(summaries)
  const ids = Array.from({ length: cars }, (_, i) => `${prefix}-${String(i + 1).padStart(5, '0')}`)
  const creds = join(dir, `${target}-credentials.tsv`)
  writeFileSync(creds, [...(await provisionForLoad(redisUrl, ids))].map(([id, pw]) => `${id}\t${pw}\n`).join(''), { mode: 0o600 })
  const servers = await Promise.all(Array.from({ length: runners }, (_, i) => startServer(target, i, prefix)))
  const kafkaPid = target === 'fleet' ? stackPid('kafka') : undefined
  const t0 = performance.now()
  const cpu0 = { servers: servers.reduce((s, x) => s + cpuSecondsOr0(x.pid), 0), kafka: cpuSecondsOr0(kafkaPid) }
  const peak = { serversMB: 0, k6MB: 0 }
  const children = servers.map((s, i) => spawn(k6, ['run', '--no-usage-report', '--quiet', '--address', '', '--execution-segment', `${frac(i)}:${frac(i + 1)}`, '--execution-segment-sequence', sequence, `${root}loadtest/k6/cars.ts`], {
    env: { ...process.env, ...k6Env, FLEET_MQTT_HOST: '127.0.0.1', FLEET_MQTT_PORT: String(s.tlsPort), TLS_CA_FILE: files.ca, CREDENTIALS_FILE: creds, SUMMARY_DIR: summaries, ID_PREFIX: prefix },
    stdio: ['ignore', 'ignore', 'inherit']
  }))
  const k6Cpu = new Map<number, number>()
  const exited = children.map(c => new Promise<number | null>(resolve => c.once('exit', code => resolve(code))))
  let running = true
  void Promise.all(exited).then(() => { running = false })
  while (running) {
    // A process that has exited has no RSS (gone: rssBytes throws; a zombie: NaN).
    const mb = (pids: Array<number | undefined>) => pids.reduce<number>((s, p) => { try { const r = p === undefined ? 0 : rssBytes(p); return s + (Number.isFinite(r) ? r : 0) } catch { return s } }, 0) / 2 ** 20
    peak.serversMB = Math.max(peak.serversMB, mb(servers.map(s => s.pid)))
    peak.k6MB = Math.max(peak.k6MB, mb(children.map(c => c.pid)))
    for (const c of children) if (c.pid !== undefined && c.exitCode === null) k6Cpu.set(c.pid, cpuSecondsOr0(c.pid))
    await sleep(2_000)
  }
  const secs = (performance.now() - t0) / 1_000
  const codes = await Promise.all(exited)
  const cores = { servers: round2((servers.reduce((s, x) => s + cpuSecondsOr0(x.pid), 0) - cpu0.servers) / secs), kafka: round2((cpuSecondsOr0(kafkaPid) - cpu0.kafka) / secs), k6: round2([...k6Cpu.values()].reduce((a, b) => a + b, 0) / secs) }
  await Promise.all(servers.map(s => s.stop()))
  const v = spawnSync(verdictBin, ['-out', join(summaries, 'verdict.json'), summaries], { encoding: 'utf8' })
  const verdict = JSON.parse(v.stdout) as { pass: boolean, checks: Array<{ name: string, value: number | null, pass: boolean }>, percentilesMs: Record<string, Record<string, number>>, counters: Record<string, number>, rates: Record<string, { passes: number, fails: number }> }
  const r = { target, runners, k6ExitCodes: codes, verdictExitCode: v.status, seconds: Math.round(secs), cores, peakRssMB: { servers: Math.round(peak.serversMB), k6: Math.round(peak.k6MB) }, verdict }
  console.log(`${target}: verdict ${verdict.pass ? 'PASS' : 'FAIL'}; ${verdict.checks.map(c => `${c.name} ${c.value}${c.pass ? '' : ' ✗'}`).join('; ')}; cores ${JSON.stringify(cores)}`)
  return r
}

const results = []
for (const t of targets) results.push(await runTarget(t))
const summary = { loadtest: 'k6-local', when: new Date().toISOString(), machine: { cpus: cpus().length, model: cpus()[0]?.model }, params: { ...k6Env, runners, targets }, results }
mkdirSync(join(root, 'results'), { recursive: true })
writeFileSync(join(root, out), JSON.stringify(summary, null, 2) + '\n')
console.log(`wrote ${out}`)
process.exit(0)
