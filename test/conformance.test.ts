// MQTT 3.1.1 conformance of fleet's broker, side by side with Debian's Mosquitto in the same run.
// Every scenario (test/conformance/scenarios.ts) runs against both, with mqtt.js, with Debian's
// mosquitto_pub/mosquitto_sub and with hand-built packets, and must come out as it expects for
// each target. Results go to results/tmp/conformance.json; `npm run docs:conformance` puts them in the
// table in docs/conformance.md, and the last test checks that table against the scenario list.
import assert from 'node:assert/strict'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { after, before, test } from 'node:test'
import scenarios, { expectedRows, type Outcome } from './conformance/scenarios.js'
import { DOC_FILE, RUN_FILE, renderTable, tableInReadme, type ResultRow } from './conformance/table.js'
import { mosquittoVersion, startFleetTarget, startMosquittoTarget, type Started, type Target } from './conformance/targets.js'
import { MOSQUITTO_PUB, MOSQUITTO_SUB, runCli } from './helpers/mosquitto-cli.js'

const root = new URL('..', import.meta.url).pathname
let fleet: Started
let mosquitto: Started
const results: ResultRow[] = []
const started = Date.now()

before(async () => {
  for (const bin of [MOSQUITTO_PUB, MOSQUITTO_SUB]) {
    const r = await runCli(bin, ['--help'], 5_000)
    assert.match(r.output, /mosquitto_(pub|sub) version/, `${bin} is needed (Debian: apt-get install mosquitto-clients; scripts/setup.sh does it)`)
  }
  const [f, m] = await Promise.allSettled([startFleetTarget(), startMosquittoTarget()])
  if (f.status === 'fulfilled') fleet = f.value
  if (m.status === 'fulfilled') mosquitto = m.value
  if (f.status === 'rejected') throw f.reason
  if (m.status === 'rejected') throw m.reason
})

after(async () => {
  await Promise.allSettled([fleet?.stop(), mosquitto?.stop()])
  if (results.length === 0) return
  mkdirSync(`${root}/results/tmp`, { recursive: true })
  writeFileSync(`${root}/${RUN_FILE}`, JSON.stringify({
    suite: 'test/conformance.test.ts',
    mosquitto: mosquittoVersion(),
    at: new Date().toISOString(),
    seconds: Math.round((Date.now() - started) / 100) / 10,
    rows: results
  }, null, 2) + '\n')
})

async function outcome (t: Target, run: (t: Target) => Promise<Outcome>): Promise<{ result: ResultRow['fleet'], detail?: string }> {
  try {
    return await run(t)
  } catch (err) {
    const e = err as Error
    return { result: 'fail', detail: `${e.message} ${e.stack?.split('\n').find(l => l.includes('conformance/')) ?? ''}`.replace(/\s+/g, ' ').trim() }
  }
}

for (const s of scenarios) {
  test(s.feature, async t => {
    for (const client of s.clients) {
      await t.test(client, async () => {
        // both brokers at once: they share nothing but the machine
        const [f, m] = await Promise.all([outcome(fleet.target, x => s.run(x, client)), outcome(mosquitto.target, x => s.run(x, client))])
        results.push({
          feature: s.feature,
          client,
          fleet: f.result,
          mosquitto: m.result,
          note: s.note,
          ...(f.detail === undefined ? {} : { fleetDetail: f.detail }),
          ...(m.detail === undefined ? {} : { mosquittoDetail: m.detail })
        })
        assert.deepEqual({ fleet: f.result, mosquitto: m.result }, s.expected, `fleet: ${f.detail ?? ''} | mosquitto: ${m.detail ?? ''}`)
      })
    }
  })
}

test('docs/conformance.md lists every scenario as it is expected to come out (npm run docs:conformance)', () => {
  const doc = readFileSync(`${root}/${DOC_FILE}`, 'utf8')
  const table = tableInReadme(doc)
  assert.ok(table !== null, `${DOC_FILE} has the conformance markers`)
  assert.equal(table, renderTable(expectedRows(), mosquittoVersion()))
})
