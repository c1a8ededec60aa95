import assert from 'node:assert/strict'
import { test } from 'node:test'
import { vehicleToken, verifyVehicleToken } from './legacy-tokens.js'
import { checkPassword, credentialField, makeCredential, normaliseSerial, parsePassword } from './vehicle-credentials.js'
import { devSecretProblems } from './dev-secrets.js'

const car = { kind: 'vehicle', id: 'car-1' } as const

test('a credential checks against its stored verifier only', () => {
  const { issued, field, value } = makeCredential(car, 1_000)
  assert.match(issued.password, /^fc1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{43}$/)
  assert.equal(credentialField(issued.password), field)
  assert.equal(checkPassword(car, issued.password, null, value, 2_000), 'ok')
  assert.equal(checkPassword(car, Buffer.from(issued.password), null, value, 2_000), 'ok')
  assert.equal(checkPassword({ kind: 'vehicle', id: 'car-2' }, issued.password, null, value, 2_000), 'bad_credentials', 'bound to its car')
  assert.equal(checkPassword({ kind: 'service', id: 'car-1' }, issued.password, null, value, 2_000), 'bad_credentials', 'a car\'s is no service\'s')
  assert.equal(checkPassword(car, issued.password.slice(0, -1) + (issued.password.endsWith('A') ? 'B' : 'A'), null, value, 2_000), 'bad_credentials')
  assert.equal(checkPassword(car, issued.password, '2026-01-01', value, 2_000), 'revoked')
  assert.equal(checkPassword(car, issued.password, null, null, 2_000), 'bad_credentials')
  assert.equal(checkPassword(car, undefined, null, value, 2_000), 'bad_credentials')
})

test('the stored value is not the password, and no part of it is', () => {
  const { issued, value } = makeCredential(car, 1_000)
  for (const part of [value, ...value.split(':')]) assert.equal(checkPassword(car, part, null, value, 2_000), 'bad_credentials')
  assert.ok(!value.includes(parsePassword(issued.password)!.secret))
})

test('a credential with notAfter is refused from then on', () => {
  const { issued, value } = makeCredential(car, 1_000, 5_000)
  assert.equal(checkPassword(car, issued.password, null, value, 4_999), 'ok')
  assert.equal(checkPassword(car, issued.password, null, value, 5_000), 'expired')
})

test('credential ids and secrets are fresh each time', () => {
  const a = makeCredential(car, 1); const b = makeCredential(car, 1)
  assert.notEqual(a.issued.credentialId, b.issued.credentialId)
  assert.notEqual(a.issued.password, b.issued.password)
})

test('malformed passwords are no credential', () => {
  for (const p of ['', 'v1.abc', 'fc1.short.x', `fc1.${'A'.repeat(16)}.${'A'.repeat(44)}`, 'x'.repeat(500)]) assert.equal(parsePassword(p), null)
})

test('serials compare as upper-case hex without separators or leading zeros', () => {
  assert.equal(normaliseSerial('0a:bc:01'), 'ABC01')
  assert.equal(normaliseSerial('ABC01'), 'ABC01')
})

test('legacy tokens still verify for the migration window', () => {
  assert.ok(verifyVehicleToken('k1', 'car-1', vehicleToken('k1', 'car-1')))
  assert.ok(!verifyVehicleToken('k2', 'car-1', vehicleToken('k1', 'car-1')))
})

test('published development secrets are refused unless in development mode', () => {
  assert.equal(devSecretProblems(false, { X: 'fleet-dev-operator-key', Y: 'mine-and-secret' }).length, 1)
  assert.equal(devSecretProblems(false, { X: 'a:operator:fleet-dev-read-only-key' }).length, 1)
  assert.deepEqual(devSecretProblems(true, { X: 'fleet-dev-operator-key' }), [])
  assert.deepEqual(devSecretProblems(false, { X: '' }), [])
})
