// scripts/chart-test.ts, the check `helm test` runs in the cluster (charts/fleet/templates/tests/),
// run here against a real broker, Kafka and Redis: it passes over every listener (TCP, WebSocket,
// TLS, secure WebSocket) only when each telemetry message reached vehicle.telemetry, and fails,
// naming the listener, when one cannot be reached.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { createFleetCa, issueServerCertificate } from '../services/shared/src/fleet-pki.js'
import { startTestBroker, type TestBroker } from './helpers/broker.js'
import { freePort } from './helpers/broker-process.js'
import { uniqueFleetPrefix } from './helpers/cars.js'

const root = new URL('..', import.meta.url).pathname
const dir = mkdtempSync(join(tmpdir(), 'fleet-chart-test-'))
const files = { cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key'), ca: join(dir, 'ca.crt') }
let tb: TestBroker

before(async () => {
  const ca = await createFleetCa()
  const server = await issueServerCertificate(ca, ['localhost', '127.0.0.1'])
  writeFileSync(files.cert, server.certPem)
  writeFileSync(files.key, server.keyPem)
  writeFileSync(files.ca, ca.certPem)
  // production-like: only provisioned cars get in
  tb = await startTestBroker({ FLEET_TLS_CERT_FILE: files.cert, FLEET_TLS_KEY_FILE: files.key, FLEET_TLS_CA_FILE: files.ca, FLEET_MQTTS_PORT: '0', FLEET_MQTT_WSS_PORT: '0', FLEET_TLS_CLIENT_AUTH: 'either', FLEET_REQUIRE_REGISTERED: 'true' })
})
after(async () => {
  await tb?.stop()
  rmSync(dir, { recursive: true, force: true })
})

/** Runs the script as the test pod does (asynchronously: the broker runs in this process). */
function chartTest (urls: string[]): Promise<{ status: number | null, out: string }> {
  return new Promise(resolve => {
    execFile(process.execPath, ['--import', 'tsx', 'scripts/chart-test.ts'], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, FLEET_CHART_TEST_URLS: urls.join(','), FLEET_CHART_TEST_CA_FILE: files.ca, FLEET_CHART_TEST_SERVERNAME: 'localhost', FLEET_CHART_TEST_VEHICLE: uniqueFleetPrefix('helm'), FLEET_CHART_TEST_TIMEOUT_MS: '30000' },
      timeout: 60_000
    }, (err, stdout, stderr) => resolve({ status: err === null ? 0 : (typeof err.code === 'number' ? err.code : null), out: stdout + stderr }))
  })
}

test('helm test\'s check passes over TCP, WebSocket, TLS and secure WebSocket when the telemetry reaches Kafka', async () => {
  const urls = [`mqtt://127.0.0.1:${tb.mqttPort}`, `ws://127.0.0.1:${tb.wsPort}`, `mqtts://127.0.0.1:${tb.tlsPort}`, `wss://127.0.0.1:${tb.wssPort}`]
  const { status, out } = await chartTest(urls)
  assert.equal(status, 0, out)
  for (const url of urls) assert.match(out, new RegExp(`${url.replace(/[.:/]/g, '\\$&')}\\tok: telemetry in vehicle.telemetry`))
})

test('helm test\'s check fails and names the listener that cannot be reached', async () => {
  const closed = `mqtt://127.0.0.1:${await freePort()}`
  const { status, out } = await chartTest([`mqtt://127.0.0.1:${tb.mqttPort}`, closed])
  assert.equal(status, 1, out)
  assert.match(out, new RegExp(`${closed.replace(/[.:/]/g, '\\$&')}\\tFAILED`))
  assert.match(out, /\tok: telemetry in vehicle.telemetry/)
})
