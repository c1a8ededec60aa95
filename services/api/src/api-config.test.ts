import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ConfigError } from '../../shared/src/config.js'
import { keyDigest, loadApiConfig, parseApiKeys } from './api-config.js'

test('FLEET_API_KEYS: key, role:key and name:role:key; only digests are kept', () => {
  const keys = parseApiKeys('fleet-dev-operator-key, read-only:viewer-key-0123456789,ci:operator:ci-key-0123456789abc')
  assert.deepEqual(keys.map(k => [k.role, k.name.startsWith('key-') ? 'key-…' : k.name]), [['operator', 'key-…'], ['read-only', 'key-…'], ['operator', 'ci']])
  assert.deepEqual(keys[2]!.digest, keyDigest('ci-key-0123456789abc'))
  assert.ok(!JSON.stringify(keys).includes('ci-key-0123456789abc'))
})

test('bad keys, roles and secrets stop the start with the variable named, never echoing a key', () => {
  for (const [env, re] of [
    [{ FLEET_API_KEYS: 'short' }, /16\+/],
    [{ FLEET_API_KEYS: 'admin:0123456789abcdef0' }, /role "admin"/],
    [{ FLEET_API_KEYS: 'a:b:c:0123456789abcdef0' }, /not \[name:\]\[role:\]key/],
    [{ FLEET_API_KEYS: 'operator:0123456789abcdef0,read-only:0123456789abcdef0' }, /twice/],
    [{ FLEET_API_JWT_SECRET: 'too-short' }, /32/],
    [{ FLEET_API_JWT_SECRET: 'a-jwt-secret-of-enough-characters-0123' }, /FLEET_API_JWT_ISSUER and FLEET_API_JWT_AUDIENCE: both required/],
    [{ FLEET_API_JWT_SECRET: 'a-jwt-secret-of-enough-characters-0123', FLEET_API_JWT_ISSUER: 'https://login' }, /both required/],
    [{ FLEET_API_TRUST_PROXY: 'true' }, /FLEET_API_TRUST_PROXY is gone: set FLEET_API_TRUST_PROXY_HOPS/],
    [{ FLEET_API_TRUST_PROXY_HOPS: '-1' }, /FLEET_API_TRUST_PROXY_HOPS/]
  ] as const) {
    assert.throws(() => loadApiConfig(env), (err: Error) => err instanceof ConfigError && re.test(err.message) && !err.message.includes('0123456789abcdef0'), JSON.stringify(env))
  }
  assert.equal(loadApiConfig({ FLEET_API_PORT: '8080', FLEET_API_KEYS: 'fleet-dev-operator-key', FLEET_DEV_MODE: '1' }).port, 8080)
  assert.throws(() => loadApiConfig({ FLEET_API_KEYS: 'fleet-dev-operator-key' }), /FLEET_API_KEYS: holds a published development secret/)
  assert.throws(() => loadApiConfig({}), /published development secret/, 'the default keys are the published ones')
})
