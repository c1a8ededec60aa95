// bench:idle — parked cars held by one broker process: RSS per idle authenticated connection with
// Redis-backed persistent sessions (fleet), against stock aedes (in-memory, no hooks) and Debian's
// Mosquitto with the same load in the same run. Each server takes the cars in steps and its RSS is
// read just after each step and once settled (bench/idle-run.ts says why). One process may hold
// at most 20,000 open files here, so the 50,000-car figure is an extrapolation, labelled so.
// TLS=1: the cars connect to fleet over TLS (ECDSA P-256, TLS 1.3), as in production. fleet's live
// V8 heap is read with each settled RSS. Writes results/bench-idle.json. Needs the stack up.
//   STEPS=5000,10000 SETTLE_S=120 PEERS=aedes,mosquitto TLS=1 npm run bench:idle   (SETTLE_S: longest wait per step)
//   BASELINE=/path/to/other/checkout PEERS=baseline,mosquitto …: that checkout's broker as a peer
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { createFleetCa, issueServerCertificate } from '../services/shared/src/fleet-pki.js'
import { freePort, metricValue, startBrokerProcess } from '../test/helpers/broker-process.js'
import { spawnService } from '../test/helpers/child-process.js'
import { startMosquitto } from '../test/helpers/mosquitto.js'
import { describeIdle, measureIdle, type IdleResult, type IdleServer } from './idle-run.js'

const root = new URL('..', import.meta.url).pathname
const steps = (process.env.STEPS ?? '5000,10000').split(',').map(Number)
const settleS = Number(process.env.SETTLE_S ?? 120)
const peers = (process.env.PEERS ?? 'aedes,mosquitto').split(',').filter(p => p !== '' && p !== 'none')
const tls = process.env.TLS === '1'

/** A CA and a server certificate for localhost in a temporary directory: the broker's TLS files. */
async function tlsFiles () {
  const dir = mkdtempSync(join(tmpdir(), 'fleet-bench-idle-'))
  const ca = await createFleetCa()
  const server = await issueServerCertificate(ca, ['localhost', '127.0.0.1'])
  const files = { cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key'), ca: join(dir, 'ca.crt') }
  writeFileSync(files.cert, server.certPem)
  writeFileSync(files.key, server.keyPem)
  writeFileSync(files.ca, ca.certPem)
  return files
}

async function fleet (): Promise<IdleServer> {
  const env = { FLEET_CONNECT_RATE_PER_S: '100000', FLEET_MAX_CONNECTIONS: '19500', FLEET_LOG_LEVEL: 'warn' }
  const files = tls ? await tlsFiles() : undefined
  const tlsPort = await freePort()
  const b = await startBrokerProcess('bench-idle', files === undefined
    ? env
    : { ...env, FLEET_TLS_CERT_FILE: files.cert, FLEET_TLS_KEY_FILE: files.key, FLEET_TLS_CA_FILE: files.ca, FLEET_MQTTS_PORT: String(tlsPort), FLEET_MQTT_WSS_PORT: '-1', FLEET_TLS_CLIENT_AUTH: 'either' })
  return {
    label: `fleet broker (Redis sessions, auth, ACL${files === undefined ? '' : ', TLS'})`,
    port: files === undefined ? b.mqttPort : tlsPort,
    pid: b.child.pid!,
    collects: true,
    stop: () => b.kill('SIGTERM'),
    ...(files === undefined ? {} : { loadEnv: { TLS_CA: files.ca } }),
    heapUsedMB: async () => metricValue(await b.metrics(), 'fleet_nodejs_heap_size_used_bytes') / 2 ** 20
  }
}

async function baseline (): Promise<IdleServer> {
  const root = process.env.BASELINE
  if (root === undefined) throw new Error('PEERS=baseline needs BASELINE=/path/to/other/checkout')
  const b = await startBrokerProcess('bench-idle-baseline', { FLEET_CONNECT_RATE_PER_S: '100000', FLEET_MAX_CONNECTIONS: '19500', FLEET_LOG_LEVEL: 'warn' }, { root })
  return { label: `fleet broker, baseline checkout (${root})`, port: b.mqttPort, pid: b.child.pid!, collects: true, stop: () => b.kill('SIGTERM') }
}

async function aedes (): Promise<IdleServer> {
  const port = await freePort()
  const { child, exited } = spawnService('bench/aedes-plain.ts', { ...process.env, PORT: String(port) })
  child.stderr!.pipe(process.stderr)
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', d => { if (String(d).includes('ready')) resolve() })
    exited.then(code => reject(new Error(`aedes exited with ${code}`)))
  })
  return { label: 'stock aedes (in-memory)', port, pid: child.pid!, collects: true, stop: () => { child.kill('SIGTERM'); return exited } }
}

async function mosquitto (): Promise<IdleServer> {
  const m = await startMosquitto()
  return { label: 'Mosquitto 2.0', port: m.port, pid: m.child.pid!, collects: false, stop: m.stop }
}

const servers = { fleet, baseline, aedes, mosquitto } as const
const results: IdleResult[] = []
for (const name of ['fleet', ...peers] as Array<keyof typeof servers>) {
  const r = await measureIdle(await servers[name](), steps, settleS)
  console.log(describeIdle(r))
  results.push(r)
}
const f = results[0]!
const extrapolatedRssAt50kMB = Math.round(f.rssStartMB + f.rssPerConnectionSlopeKB * 50_000 / 1024)
console.log(`fleet, extrapolated to 50,000 idle cars in one process: ${extrapolatedRssAt50kMB} MB (measured up to ${f.connected})`)
mkdirSync(`${root}/results`, { recursive: true })
writeFileSync(`${root}/${process.env.OUT ?? 'results/bench-idle.json'}`, JSON.stringify({
  bench: 'idle',
  when: new Date().toISOString(),
  machine: { cpus: cpus().length, model: cpus()[0]?.model },
  transport: tls ? 'TLS 1.3, ECDSA P-256 server certificate' : 'plain TCP',
  load: 'bench/idle-load.ts: MQTT 3.1.1 CONNECT with a per-car token, clean=false, keepalive 600 s, one QoS 1 subscription to the car\'s commands topic',
  results,
  fleetExtrapolatedRssAt50kMB: extrapolatedRssAt50kMB,
  note: `measured up to ${f.connected} connections per process (20,000 open files per process here); the 50k figure is settled RSS at start + 50,000 × the settled slope, an extrapolation`
}, null, 2) + '\n')
