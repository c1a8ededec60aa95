// The docs stay true: every setting a service reads is in docs/configuration.md, README's quick-start
// commands are the ones package.json and .ci/run use, and README stays a new user's page.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { brokerSettings } from '../services/broker/src/broker-config.js'
import { simulatorSettings } from '../services/simulator/src/simulator-config.js'
import { scorerSettings } from '../services/scorer/src/scorer-config.js'
import { commanderSettings } from '../services/commander/src/commander-config.js'
import { apiSettings } from '../services/api/src/api-config.js'

const root = new URL('..', import.meta.url)
const readme = readFileSync(new URL('README.md', root), 'utf8')
const configDoc = readFileSync(new URL('docs/configuration.md', root), 'utf8')

test('every environment variable is documented in docs/configuration.md', () => {
  for (const spec of [brokerSettings, simulatorSettings, scorerSettings, commanderSettings, apiSettings]) {
    for (const s of Object.values(spec)) assert.ok(configDoc.includes(`| \`${s.env}\` |`), `${s.env} missing from docs/configuration.md (npm run docs:config)`)
  }
})

test('the quick start commands exist and CI runs the test command', () => {
  const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { scripts: Record<string, string> }
  assert.match(readme, /npm start\s/)
  assert.match(readme, /npm test\s/)
  assert.ok(pkg.scripts.start && pkg.scripts.test)
  assert.match(readFileSync(new URL('.ci/run', root), 'utf8'), /^(timeout [^\n]* )?npm test$/m)
})

test('README stays short and its links resolve', () => {
  assert.ok(Buffer.byteLength(readme) <= 15 * 1024, `README.md is ${Buffer.byteLength(readme)} bytes (at most 15 KB: depth goes to docs/)`)
  for (const m of readme.matchAll(/\]\(((?:docs|loadtest|services|charts)\/[^)#]+)/g)) {
    assert.doesNotThrow(() => readFileSync(new URL(m[1]!, root)), `README links to ${m[1]}, which does not exist`)
  }
})
