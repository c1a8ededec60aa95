// npm run tail's command line (scripts/tail-args.ts): what it accepts and the errors it gives.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { parseTailArgs } from '../scripts/tail-args.js'

const ok = (argv: string[]) => {
  const r = parseTailArgs(argv)
  assert.ok(r.ok, r.ok ? '' : r.error)
  return r.args
}
const error = (argv: string[]) => {
  const r = parseTailArgs(argv)
  assert.ok(!r.ok, `accepted ${argv.join(' ')}`)
  return r
}

test('tail args: a topic alone reads from now on, for every car, until Ctrl-C', () => {
  assert.deepEqual(ok(['vehicle.telemetry']), { topic: 'vehicle.telemetry', vehicleId: null, fromBeginning: false, max: null })
})

test('tail args: --vehicle, --from-beginning and --max, before or after the topic, also as --opt=value', () => {
  const want = { topic: 'vehicle.telemetry.dlq', vehicleId: 'my-car', fromBeginning: true, max: 3 }
  assert.deepEqual(ok(['vehicle.telemetry.dlq', '--vehicle', 'my-car', '--from-beginning', '--max', '3']), want)
  assert.deepEqual(ok(['--max=3', '--vehicle=my-car', '--from-beginning', 'vehicle.telemetry.dlq']), want)
})

test('tail args: every fleet topic is accepted', () => {
  for (const t of ['vehicle.telemetry', 'vehicle.telemetry.dlq', 'vehicle.anomalies', 'vehicle.scores', 'vehicle.commands', 'vehicle.command-events']) assert.equal(ok([t]).topic, t)
})

test('tail args: clear errors for what would otherwise wait forever or read the wrong thing', () => {
  const cases: Array<[string[], RegExp]> = [
    [[], /which topic/],
    [['vehicle.telemtry'], /vehicle\.telemtry is not a fleet topic/],
    [['vehicle.telemetry', 'vehicle.scores'], /one topic only/],
    [['vehicle.telemetry', '--vehicle'], /--vehicle needs a vehicle id.*nothing/],
    [['vehicle.telemetry', '--vehicle', 'vehicles/my-car/telemetry'], /--vehicle needs a vehicle id/],
    [['vehicle.telemetry', '--max', '0'], /--max needs a whole number from 1/],
    [['vehicle.telemetry', '--max', '-1'], /--max needs a whole number/],
    [['vehicle.telemetry', '--max', '1e3'], /--max needs a whole number/],
    [['vehicle.telemetry', '--max'], /--max needs a whole number.*nothing/],
    [['vehicle.telemetry', '--from-beginning=yes'], /takes no value/],
    [['vehicle.telemetry', '--follow'], /unknown option --follow/]
  ]
  for (const [argv, message] of cases) {
    const r = error(argv)
    assert.equal(r.help, false)
    assert.match(r.error, message, argv.join(' '))
  }
})

test('tail args: --help and -h ask for the usage', () => {
  assert.equal(error(['--help']).help, true)
  assert.equal(error(['vehicle.telemetry', '-h']).help, true)
})
