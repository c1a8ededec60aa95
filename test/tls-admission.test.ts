// Before the TLS handshake: a client may open sockets on the TLS and secure WebSocket listeners and
// never finish a handshake. The per-address connect rate and the socket cap apply at accept, before
// the handshake's CPU is spent, as on plain TCP, and a handshake not finished within
// FLEET_TLS_HANDSHAKE_TIMEOUT_MS ends its socket (Node's default would hold it for 120 s).
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { connect as netConnect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { createFleetCa, issueServerCertificate, type Pem } from '../services/shared/src/fleet-pki.js'
import { startTestBroker, type TestBroker } from './helpers/broker.js'
import { connectCar, uniqueFleetPrefix } from './helpers/cars.js'

const prefix = uniqueFleetPrefix('tlsgate')
const dir = mkdtempSync(join(tmpdir(), 'fleet-tls-gate-'))
const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))
let ca: Pem
let tb: TestBroker

before(async () => {
  ca = await createFleetCa()
  const server = await issueServerCertificate(ca, ['localhost', '127.0.0.1'])
  const files = { cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key'), ca: join(dir, 'ca.crt') }
  writeFileSync(files.cert, server.certPem)
  writeFileSync(files.key, server.keyPem)
  writeFileSync(files.ca, ca.certPem)
  tb = await startTestBroker({
    FLEET_TLS_CERT_FILE: files.cert,
    FLEET_TLS_KEY_FILE: files.key,
    FLEET_TLS_CA_FILE: files.ca,
    FLEET_MQTTS_PORT: '0',
    FLEET_MQTT_WSS_PORT: '0',
    FLEET_TLS_CLIENT_AUTH: 'either',
    FLEET_CONNECT_RATE_PER_ADDRESS: '5',
    FLEET_TLS_HANDSHAKE_TIMEOUT_MS: '1000'
  })
})
after(async () => { await tb?.stop() })

/** Opens n TCP sockets that never send a byte; resolves each one's close time (ms from open). */
async function silentSockets (port: number, n: number) {
  const t0 = performance.now()
  const closedAt: Array<number | null> = Array.from({ length: n }, () => null)
  const sockets: Socket[] = []
  await Promise.all(Array.from({ length: n }, (_, i) => new Promise<void>(resolve => {
    const s = netConnect(port, '127.0.0.1', () => resolve())
    s.on('error', () => resolve())
    s.on('close', () => { closedAt[i] = performance.now() - t0; resolve() })
    sockets.push(s)
  })))
  return { closedAt, destroy: () => { for (const s of sockets) s.destroy() } }
}

for (const listener of ['tls', 'wss'] as const) {
  test(`${listener}: a flood of sockets that never start a handshake is limited at accept, counted, and the rest end at the handshake timeout`, async () => {
    const port = listener === 'tls' ? tb.tlsPort! : tb.wssPort!
    const refused0 = await tb.metric('fleet_broker_refused_total', { reason: 'address_rate' })
    const flood = await silentSockets(port, 30)
    try {
      await sleep(400)
      // a burst of 5 from this address is let in (plus what refilled in the meantime); the rest
      // are closed at accept, before a handshake
      const early = flood.closedAt.filter(t => t !== null).length
      assert.ok(early >= 20, `only ${early} of 30 silent sockets were closed within 0.4 s`)
      assert.ok(await tb.metric('fleet_broker_refused_total', { reason: 'address_rate' }) - refused0 >= 20, 'refusals counted as address_rate')
      // the admitted ones never said hello: closed after FLEET_TLS_HANDSHAKE_TIMEOUT_MS (1 s)
      await sleep(2_500)
      const open = flood.closedAt.filter(t => t === null).length
      assert.equal(open, 0, `${open} sockets without a handshake still open after 2.9 s`)
    } finally {
      flood.destroy()
    }
    await sleep(1_200) // let this address's bucket refill for the next test
  })
}

test('a real car connects over TLS beside such a flood once its address may connect again', async () => {
  const id = `${prefix}-car`
  const car = await connectCar(id, 0, { url: `mqtts://127.0.0.1:${tb.tlsPort}`, ca: ca.certPem, servername: 'localhost' } as never)
  assert.equal(car.connected, true)
  await car.endAsync()
})
