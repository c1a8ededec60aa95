// bench:tls — the cost of TLS, side by side in one run: the same number of idle authenticated
// cars (persistent session + command subscription) connect to a broker process over plain TCP,
// then to a fresh one over TLS (ECDSA P-256 certificate, TLS 1.3). Reports connects per second
// (for TLS: full handshakes per second) and RSS per connection for each, and the difference.
// Writes results/bench-tls.json. Needs the stack (scripts/stack.sh up).
//   CARS=3000 npm run bench:tls
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { createFleetCa, issueServerCertificate } from '../services/shared/src/fleet-pki.js'
import { freePort, startBrokerProcess } from '../test/helpers/broker-process.js'
import { rssBytes } from './proc-stats.js'

const cars = Number(process.env.CARS ?? 3_000)
const root = new URL('..', import.meta.url).pathname
const dir = mkdtempSync(join(tmpdir(), 'fleet-bench-tls-'))
const ca = await createFleetCa()
const server = await issueServerCertificate(ca, ['localhost', '127.0.0.1'])
const files = { cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key'), ca: join(dir, 'ca.crt') }
writeFileSync(files.cert, server.certPem)
writeFileSync(files.key, server.keyPem)
writeFileSync(files.ca, ca.certPem)

async function phase (kind: 'tcp' | 'tls') {
  const tlsPort = await freePort()
  const broker = await startBrokerProcess(`bench-${kind}`, {
    FLEET_CONNECT_RATE_PER_S: '100000', FLEET_TLS_CERT_FILE: files.cert, FLEET_TLS_KEY_FILE: files.key, FLEET_TLS_CA_FILE: files.ca, FLEET_MQTTS_PORT: String(tlsPort), FLEET_MQTT_WSS_PORT: '-1', FLEET_TLS_CLIENT_AUTH: 'either'
  })
  try {
    await new Promise(resolve => setTimeout(resolve, 1_000))
    const pid = broker.child.pid!
    const rss0 = rssBytes(pid)
    const port = kind === 'tcp' ? broker.mqttPort : tlsPort
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/idle-load.ts'], {
      cwd: root,
      env: { ...process.env, PORT: String(port), CARS: String(cars), CONCURRENCY: '100', PREFIX: `bench-${kind}-${Date.now().toString(36)}`, ...(kind === 'tls' ? { TLS_CA: files.ca } : {}) },
      stdio: ['pipe', 'pipe', 'inherit']
    })
    const result = await new Promise<{ connected: number, failed: number, seconds: number }>((resolve, reject) => {
      let out = ''
      child.stdout!.on('data', d => { out += d; if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0]!)) })
      child.on('exit', code => reject(new Error(`load exited ${code}`)))
    })
    await new Promise(resolve => setTimeout(resolve, 3_000))
    const rss1 = rssBytes(pid)
    child.stdin!.end()
    return { kind, ...result, connectsPerSecond: Math.round(result.connected / result.seconds), rssBeforeMB: Math.round(rss0 / 2 ** 20), rssAfterMB: Math.round(rss1 / 2 ** 20), rssPerConnectionKB: Math.round((rss1 - rss0) / result.connected / 102.4) / 10 }
  } finally {
    await broker.kill('SIGTERM')
  }
}

const tcp = await phase('tcp')
const tls = await phase('tls')
const summary = { bench: 'tls', when: new Date().toISOString(), machine: { cpus: cpus().length, model: cpus()[0]?.model }, cars, tcp, tls, extraKBPerTlsConnection: Math.round((tls.rssPerConnectionKB - tcp.rssPerConnectionKB) * 10) / 10 }
console.log(`tcp: ${tcp.connected} cars at ${tcp.connectsPerSecond}/s, ${tcp.rssPerConnectionKB} KB each; tls: ${tls.connected} cars at ${tls.connectsPerSecond} handshakes/s, ${tls.rssPerConnectionKB} KB each; TLS costs ${summary.extraKBPerTlsConnection} KB more per connection`)
mkdirSync(`${root}/results`, { recursive: true })
writeFileSync(`${root}/results/bench-tls.json`, JSON.stringify(summary, null, 2) + '\n')
