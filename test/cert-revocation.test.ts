// Car certificates revoked for good (issue #21, point 2): re-provisioning a revoked car does not
// make its old certificate valid again; a certificate revoked by serial is refused while the car's
// other certificates work; a certificate listed in FLEET_TLS_CRL_FILE fails the TLS handshake.
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { Redis } from 'ioredis'
import { certificateSerial, createCrl, createFleetCa, issueCarCertificate, issueServerCertificate, type Pem } from '../services/shared/src/fleet-pki.js'
import { createCredentialStore } from '../services/shared/src/credential-store.js'
import { startTestBroker, type TestBroker } from './helpers/broker.js'
import { connackCode, uniqueFleetPrefix } from './helpers/cars.js'

const prefix = uniqueFleetPrefix('certrev')
const dir = mkdtempSync(join(tmpdir(), 'fleet-certrev-'))
const files = { cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key'), ca: join(dir, 'ca.crt'), crl: join(dir, 'ca.crl') }
let ca: Pem
let tb: TestBroker
let redis: Redis
let store: ReturnType<typeof createCredentialStore>
let crlListed: Pem

before(async () => {
  ca = await createFleetCa()
  const server = await issueServerCertificate(ca, ['localhost', '127.0.0.1'])
  crlListed = await issueCarCertificate(ca, `${prefix}-crl`)
  writeFileSync(files.cert, server.certPem)
  writeFileSync(files.key, server.keyPem)
  writeFileSync(files.ca, ca.certPem)
  writeFileSync(files.crl, await createCrl(ca, [certificateSerial(crlListed.certPem)]))
  tb = await startTestBroker({ FLEET_DEV_MODE: '', FLEET_TLS_CERT_FILE: files.cert, FLEET_TLS_KEY_FILE: files.key, FLEET_TLS_CA_FILE: files.ca, FLEET_TLS_CRL_FILE: files.crl, FLEET_MQTTS_PORT: '0', FLEET_MQTT_WSS_PORT: '-1', FLEET_TLS_CLIENT_AUTH: 'either' })
  redis = new Redis(tb.config.redisUrl)
  store = createCredentialStore(redis)
})
after(async () => {
  redis?.disconnect()
  await tb?.stop()
})

const withCert = (car: Pem) => ({ url: `mqtts://127.0.0.1:${tb.tlsPort}`, ca: ca.certPem, servername: 'localhost', cert: car.certPem, key: car.keyPem, username: undefined, password: undefined }) as never
const car = (id: string) => ({ kind: 'vehicle', id } as const)

test('re-provisioning a revoked car does not revive its old certificate', async () => {
  const id = `${prefix}-revive`
  const old = await issueCarCertificate(ca, id)
  await store.provision(car(id))
  assert.equal(await connackCode(id, 0, withCert(old)), 0)
  await store.revoke(car(id))
  assert.equal(await connackCode(id, 0, withCert(old)), 5)
  await store.provision(car(id))
  assert.equal(await connackCode(id, 0, withCert(old)), 5, 'the old certificate stays revoked')
  // a certificate issued after the revocation works
  const fresh = await issueCarCertificate(ca, id, { notBefore: new Date(Date.now() + 1_000), days: 30 })
  await new Promise(resolve => setTimeout(resolve, 1_500))
  assert.equal(await connackCode(id, 0, withCert(fresh)), 0)
})

test('a certificate revoked by serial is refused; the car\'s other certificate works', async () => {
  const id = `${prefix}-serial`
  const [lost, kept] = await Promise.all([issueCarCertificate(ca, id), issueCarCertificate(ca, id)])
  await store.provision(car(id))
  await store.revokeSerial(certificateSerial(lost.certPem))
  assert.equal(await connackCode(id, 0, withCert(lost)), 5)
  assert.equal(await connackCode(id, 0, withCert(kept)), 0)
})

test('a certificate in the CRL file is no identity: without a password the car is refused', async () => {
  const id = `${prefix}-crl`
  await store.provision(car(id))
  assert.equal(await connackCode(id, 0, withCert(crlListed)), 4)
  assert.equal(await connackCode(id, 0, withCert(await issueCarCertificate(ca, id))), 0)
})
