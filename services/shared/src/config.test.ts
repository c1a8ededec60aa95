import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ConfigError, bool, int, list, oneOf, readConfig, str } from './config.js'

const spec = {
  port: int('T_PORT', 1883, 'port', 0, 65535),
  name: str('T_NAME', 'x', 'name', /^[a-z]+$/),
  on: bool('T_ON', false, 'flag'),
  brokers: list('T_BROKERS', ['a:1'], 'brokers'),
  level: oneOf('T_LEVEL', 'info', 'level', ['info', 'debug'] as const)
}

test('defaults when unset, parsed values when set', () => {
  assert.deepEqual(readConfig(spec, {}), { port: 1883, name: 'x', on: false, brokers: ['a:1'], level: 'info' })
  assert.deepEqual(readConfig(spec, { T_PORT: '9', T_NAME: 'abc', T_ON: 'yes', T_BROKERS: 'b:2, c:3', T_LEVEL: 'debug' }),
    { port: 9, name: 'abc', on: true, brokers: ['b:2', 'c:3'], level: 'debug' })
})

test('every bad variable is named in one error', () => {
  assert.throws(() => readConfig(spec, { T_PORT: '70000', T_NAME: 'ABC', T_ON: 'maybe', T_LEVEL: 'loud', T_BROKERS: ',' }), (err: unknown) => {
    assert.ok(err instanceof ConfigError)
    assert.equal(err.problems.length, 5)
    for (const v of ['T_PORT', 'T_NAME', 'T_ON', 'T_LEVEL', 'T_BROKERS']) assert.match(err.message, new RegExp(v))
    return true
  })
  assert.throws(() => readConfig(spec, { T_PORT: '12abc' }), /T_PORT="12abc": must be an integer/)
})
