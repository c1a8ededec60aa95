// MQTT over TLS with per-car certificates, real handshakes: a car known by its certificate (no
// password), an unknown CA, an expired certificate, a revoked car (refused, and dropped while
// connected), a car claiming another car's topics, password auth on the same listener, secure
// WebSocket, and a certificate reloaded from its files without dropping connected cars.
import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { connect as tlsConnect } from 'node:tls'
import { Redis } from 'ioredis'
import { createFleetCa, issueCarCertificate, issueServerCertificate, type Pem } from '../services/shared/src/fleet-pki.js'
import { validTelemetry } from '../services/shared/src/telemetry-samples.js'
import { KafkaTopics, MqttTopics } from '../services/shared/src/topics.js'
import { REVOCATIONS_CHANNEL, REVOKED_VEHICLES_KEY } from '../services/shared/src/vehicle-credentials.js'
import { loadBrokerConfig } from '../services/broker/src/broker-config.js'
import { startTestBroker, type TestBroker } from './helpers/broker.js'
import { connackCode, connectCar, uniqueFleetPrefix } from './helpers/cars.js'
import { collect, type Collector } from './helpers/kafka.js'

const prefix = uniqueFleetPrefix('tls')
const dir = mkdtempSync(join(tmpdir(), 'fleet-tls-'))
let ca: Pem
let tb: TestBroker
let redis: Redis
let telemetry: Collector
const files = { cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key'), ca: join(dir, 'ca.crt') }

before(async () => {
  ca = await createFleetCa()
  const server = await issueServerCertificate(ca, ['localhost', '127.0.0.1'])
  writeFileSync(files.cert, server.certPem)
  writeFileSync(files.key, server.keyPem)
  writeFileSync(files.ca, ca.certPem)
  tb = await startTestBroker({ FLEET_TLS_CERT_FILE: files.cert, FLEET_TLS_KEY_FILE: files.key, FLEET_TLS_CA_FILE: files.ca, FLEET_MQTTS_PORT: '0', FLEET_MQTT_WSS_PORT: '0', FLEET_TLS_CLIENT_AUTH: 'either' })
  redis = new Redis(tb.config.redisUrl)
  telemetry = await collect(KafkaTopics.telemetry, key => key.startsWith(prefix))
})
after(async () => {
  await telemetry?.stop()
  redis?.disconnect()
  await tb?.stop()
})

const tlsOpts = (car: Pem | null) => ({
  url: `mqtts://127.0.0.1:${tb.tlsPort}`,
  ca: ca.certPem,
  servername: 'localhost',
  ...(car === null ? {} : { cert: car.certPem, key: car.keyPem, username: undefined, password: undefined })
})

test('a car with a certificate from the fleet CA connects without a password and is known by its CN', async () => {
  const id = `${prefix}-cert`
  const car = await connectCar(id, 0, tlsOpts(await issueCarCertificate(ca, id)) as never)
  const payload = JSON.stringify(validTelemetry(id, 0))
  await car.publishAsync(MqttTopics.telemetry(id), payload, { qos: 1 })
  await telemetry.waitFor(r => r.some(x => x.key === id))
  await car.endAsync()
  assert.equal(await tb.metric('fleet_broker_connects_total', { result: 'accepted_certificate' }), 1)
})

test('with client auth "either", an unverified certificate is no identity: without a token the car is refused', async () => {
  const other = await createFleetCa('someone else')
  const id = `${prefix}-rogue`
  assert.equal(await connackCode(id, 0, tlsOpts(await issueCarCertificate(other, id)) as never), 4)
  const expired = await issueCarCertificate(ca, `${prefix}-old`, { notBefore: new Date(Date.now() - 10 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) })
  assert.equal(await connackCode(`${prefix}-old`, 0, tlsOpts(expired) as never), 4)
  assert.equal(await tb.metric('fleet_broker_connects_total', { result: 'accepted_certificate' }), 1, 'only the first test\'s car')
})

test('with FLEET_TLS_CLIENT_AUTH=certificate, unknown CA, expired or missing certificates never reach MQTT', async () => {
  const strict = await startTestBroker({ FLEET_TLS_CERT_FILE: files.cert, FLEET_TLS_KEY_FILE: files.key, FLEET_TLS_CA_FILE: files.ca, FLEET_MQTTS_PORT: '0', FLEET_MQTT_WSS_PORT: '-1', FLEET_TLS_CLIENT_AUTH: 'certificate' })
  try {
    const url = `mqtts://127.0.0.1:${strict.tlsPort}`
    const good = await issueCarCertificate(ca, `${prefix}-good`)
    assert.equal(await connackCode(`${prefix}-good`, 0, { ...tlsOpts(good), url } as never), 0)
    const other = await createFleetCa('someone else')
    const expired = await issueCarCertificate(ca, `${prefix}-exp`, { notBefore: new Date(Date.now() - 10 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) })
    for (const bad of [await issueCarCertificate(other, `${prefix}-x`), expired, null]) {
      // a TLS error, not a CONNACK: connackCode rethrows errors without an MQTT return code
      await assert.rejects(connackCode(`${prefix}-x`, 0, { ...tlsOpts(bad), url, connectTimeout: 3_000 } as never), (err: Error & { code?: unknown }) => typeof err.code !== 'number')
    }
    assert.equal(await strict.metric('fleet_broker_refused_total', { reason: 'tls_handshake' }), 3)
    assert.equal(await strict.metric('fleet_broker_connects_total'), 1, 'only the good car reached CONNECT')
  } finally {
    await strict.stop()
  }
})

test('a revoked car is refused at connect, and dropped at once if connected', async () => {
  const id = `${prefix}-revoked`
  const cert = await issueCarCertificate(ca, id)
  const car = await connectCar(id, 0, tlsOpts(cert) as never)
  const closed = new Promise<void>(resolve => car.once('close', () => resolve()))
  await redis.multi().sadd(REVOKED_VEHICLES_KEY, id).publish(REVOCATIONS_CHANNEL, id).exec()
  await closed
  car.end(true)
  assert.equal(await connackCode(id, 0, tlsOpts(cert) as never), 5)
  assert.equal(await tb.metric('fleet_broker_refused_total', { reason: 'revoked_while_connected' }), 1)
  await redis.srem(REVOKED_VEHICLES_KEY, id)
})

test('a certificate car claiming another car\'s topics or user name is refused', async () => {
  const id = `${prefix}-claim`
  const cert = await issueCarCertificate(ca, id)
  assert.equal(await connackCode(id, 0, { ...tlsOpts(cert), username: `${prefix}-victim` } as never), 4)
  assert.equal(await connackCode(id, 0, { ...tlsOpts(cert), clientId: `${prefix}-victim` } as never), 2)
  const car = await connectCar(id, 0, tlsOpts(cert) as never)
  const grants = await car.subscribeAsync(MqttTopics.commands(`${prefix}-victim`), { qos: 1 }).then(g => g.map(x => x.qos), (err: { packet: { granted: number[] } }) => err.packet.granted)
  assert.deepEqual(grants, [128])
  const closed = new Promise<void>(resolve => car.once('close', () => resolve()))
  car.publish(MqttTopics.telemetry(`${prefix}-victim`), JSON.stringify(validTelemetry(`${prefix}-victim`, 0)), { qos: 1 })
  await closed
  car.end(true)
})

test('password auth works on the TLS listener too (client auth "either"), and over secure WebSocket', async () => {
  const id = `${prefix}-pw`
  assert.equal(await connackCode(id, 0, { url: `mqtts://127.0.0.1:${tb.tlsPort}`, ca: ca.certPem, servername: 'localhost' } as never), 0)
  const wssId = `${prefix}-wss`
  const car = await connectCar(wssId, 0, { url: `wss://127.0.0.1:${tb.wssPort}/mqtt`, ca: ca.certPem, servername: 'localhost', wsOptions: { ca: ca.certPem, servername: 'localhost' } } as never)
  await car.publishAsync(MqttTopics.telemetry(wssId), JSON.stringify(validTelemetry(wssId, 0)), { qos: 1 })
  await car.endAsync()
  const certCar = `${prefix}-wsscert`
  const cert = await issueCarCertificate(ca, certCar)
  const c2 = await connectCar(certCar, 0, { url: `wss://127.0.0.1:${tb.wssPort}/mqtt`, username: undefined, password: undefined, wsOptions: { ca: ca.certPem, servername: 'localhost', cert: cert.certPem, key: cert.keyPem } } as never)
  await c2.endAsync()
})

test('TLS only: FLEET_MQTT_PORT=-1 and FLEET_MQTT_WS_PORT=-1 open no plaintext listener; cars connect over TLS', async () => {
  const only = await startTestBroker({ FLEET_MQTT_PORT: '-1', FLEET_MQTT_WS_PORT: '-1', FLEET_TLS_CERT_FILE: files.cert, FLEET_TLS_KEY_FILE: files.key, FLEET_TLS_CA_FILE: files.ca, FLEET_MQTTS_PORT: '0', FLEET_MQTT_WSS_PORT: '-1', FLEET_TLS_CLIENT_AUTH: 'either' })
  try {
    assert.equal(only.mqttPort, -1)
    assert.equal(only.wsPort, null)
    assert.equal(await connackCode(`${prefix}-tlsonly`, 0, { url: `mqtts://127.0.0.1:${only.tlsPort}`, ca: ca.certPem, servername: 'localhost' } as never), 0)
  } finally {
    await only.stop()
  }
  assert.throws(() => loadBrokerConfig({ FLEET_MQTT_PORT: '-1', FLEET_MQTT_WS_PORT: '-1' }), /no MQTT listener/)
})

test('a new certificate in the files is served to new connections; connected cars stay', async () => {
  const id = `${prefix}-reload`
  const car = await connectCar(id, 0, tlsOpts(await issueCarCertificate(ca, id)) as never)
  const servedSerial = () => new Promise<string>((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port: tb.tlsPort!, ca: ca.certPem, servername: 'localhost' }, () => {
      resolve(s.getPeerX509Certificate()!.serialNumber)
      s.destroy()
    })
    s.on('error', reject)
  })
  const before = await servedSerial()
  const next = await issueServerCertificate(ca, ['localhost', '127.0.0.1'])
  writeFileSync(files.key, next.keyPem)
  writeFileSync(files.cert, next.certPem)
  const want = new X509Certificate(next.certPem).serialNumber
  const deadline = Date.now() + 10_000
  let served = before
  while (served !== want && Date.now() < deadline) {
    await new Promise(resolve => setTimeout(resolve, 200))
    served = await servedSerial()
  }
  assert.notEqual(before, want)
  assert.equal(served, want, 'the new certificate is served')
  assert.ok(car.connected, 'the connected car was not dropped')
  await car.publishAsync(MqttTopics.telemetry(id), JSON.stringify(validTelemetry(id, 0)), { qos: 1 })
  await car.endAsync()
  assert.ok(await tb.metric('fleet_broker_tls_reloads_total', { result: 'ok' }) >= 1)
})
