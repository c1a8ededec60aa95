import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ConfigError } from '../../shared/src/config.js'
import { loadCommanderConfig, parseAnomalyRules } from './commander-config.js'
import { matchRule } from './anomaly-rule.js'

test('defaults: rules off, the chart\'s settings are read', () => {
  const c = loadCommanderConfig({})
  assert.equal(c.anomalyRules, '')
  assert.deepEqual(parseAnomalyRules(c.anomalyRules), [])
  assert.equal(c.opsPort, 9103)
  const set = loadCommanderConfig({ FLEET_COMMANDER_OPS_PORT: '9200', FLEET_COMMANDER_GROUP: 'fleet-eu' })
  assert.equal(set.opsPort, 9200)
  assert.equal(set.groupId, 'fleet-eu')
})

test('anomaly rules: mode=command or *=command; only commands without required params', () => {
  const rules = parseAnomalyRules('bearing_wear=request-diagnostics, *=flash-lights')
  assert.deepEqual(rules, [{ match: 'bearing_wear', command: 'request-diagnostics' }, { match: '*', command: 'flash-lights' }])
  assert.deepEqual(matchRule(rules, { failureModeGuess: 'bearing_wear' }), rules[0])
  assert.deepEqual(matchRule(rules, { failureModeGuess: 'coolant_leak' }), rules[1])
  assert.deepEqual(matchRule(rules, { failureModeGuess: null }), rules[1])
  assert.equal(matchRule(rules.slice(0, 1), { failureModeGuess: null }), null)
  for (const bad of ['bearing_wear', 'x=self-destruct', 'x=ota-update', 'a=b=c', 'bad mode=lock']) {
    assert.throws(() => loadCommanderConfig({ FLEET_COMMANDER_ANOMALY_RULES: bad }), ConfigError, bad)
  }
})

test('the commander has no MQTT settings any more: it speaks Kafka and Redis only', () => {
  const c = loadCommanderConfig({ FLEET_COMMANDER_MQTT_URL: 'mqtt://fleet-broker:1883', FLEET_COMMANDER_MQTT_PASSWORD: 'x' }) as Record<string, unknown>
  assert.deepEqual(Object.keys(c).filter(k => /mqtt/i.test(k)), [])
})
