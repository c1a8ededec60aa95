// docs/connect-a-car.md, run as a user would: every ```sh block of the doc, in order, in one bash
// shell (so TOKEN carries over), against a real broker, api, scorer and commander started here on
// free ports with the stack's Kafka and Redis. The only changes to the commands are the ports, a
// car id of this run's own (so reruns on the same stack never read an earlier run's records) and
// the example files' folder (copies naming that car). Also: the example files are what the doc
// says they are, the rejections endpoint starts closed, refused CONNECTs print what the doc says,
// a flooding car's rejection list stays bounded, and npm run tail ends on Ctrl-C.
import assert from 'node:assert/strict'
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { Redis } from 'ioredis'
import { DEV_API_KEYS } from '../services/api/src/api-config.js'
import { parseRejection, REJECTIONS_KEPT, rejectionsKey } from '../services/shared/src/rejections.js'
import { parseTelemetry } from '../services/shared/src/telemetry-schema.js'
import { REVOKED_VEHICLES_KEY, vehicleKey } from '../services/shared/src/vehicle-credentials.js'
import { startTestApi, startTestCommander, type TestApi, type TestCommander } from './helpers/api.js'
import { startTestBroker, type TestBroker } from './helpers/broker.js'
import { connectCar, uniqueFleetPrefix } from './helpers/cars.js'
import { connectArgs, MOSQUITTO_PUB, runCli } from './helpers/mosquitto-cli.js'
import { startTestScorer, type TestScorer } from './helpers/scorer.js'

const ROOT = new URL('..', import.meta.url).pathname
const DOC = join(ROOT, 'docs/connect-a-car.md')
const REDIS_URL = process.env.FLEET_REDIS_URL ?? 'redis://127.0.0.1:16379'
const car = uniqueFleetPrefix('doc')

let broker: TestBroker
let api: TestApi
let scorer: TestScorer
let commander: TestCommander
let redis: Redis
let examples: string
let shell: Shell

/** The doc's ```sh blocks, in order. */
async function docBlocks (): Promise<string[]> {
  const text = await readFile(DOC, 'utf8')
  return [...text.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map(m => m[1]!.trim())
}

/** One bash process fed block after block, as a user pastes them into one terminal. */
interface Shell { run: (block: string, timeoutMs?: number) => Promise<{ code: number, output: string }>, close: () => void }
function startShell (env: NodeJS.ProcessEnv): Shell {
  const bash: ChildProcessWithoutNullStreams = spawn('bash', ['--noprofile', '--norc'], { cwd: ROOT, env, stdio: 'pipe' })
  let out = ''
  bash.stdout.on('data', (d: Buffer) => { out += d.toString() })
  bash.stderr.on('data', (d: Buffer) => { out += d.toString() })
  let n = 0
  return {
    async run (block, timeoutMs = 60_000) {
      const marker = `__block_${++n}_done__`
      out = ''
      bash.stdin.write(`{\n${block}\n} 2>&1 < /dev/null; echo "${marker} $?"\n`)
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const m = out.match(new RegExp(`${marker} (\\d+)`))
        if (m !== null) return { code: Number(m[1]), output: out.slice(0, m.index) }
        if (Date.now() > deadline) throw new Error(`block did not finish in ${timeoutMs} ms:\n${block}\noutput so far:\n${out.slice(-2_000)}`)
        await new Promise(resolve => setTimeout(resolve, 50))
      }
    },
    close: () => { bash.kill('SIGKILL') }
  }
}

/** The block as this run types it: its ports, its car, its copies of the example files. */
const localize = (block: string) => block
  .replaceAll('my-car-1', car)
  .replaceAll('examples/', `${examples}/`)
  .replaceAll('-p 1883', `-p ${broker.mqttPort}`)
  .replaceAll('http://127.0.0.1:8080', api.url)
  .replaceAll('certs/', `${examples}/certs/`)

const jsonLines = (output: string) => output.split('\n').filter(l => l.startsWith('{')).map(l => JSON.parse(l) as Record<string, unknown>)

before(async () => {
  redis = new Redis(REDIS_URL)
  examples = await mkdtemp(join(tmpdir(), 'fleet-doc-'))
  for (const f of ['telemetry.json', 'telemetry-invalid.json']) {
    await writeFile(join(examples, f), (await readFile(join(ROOT, 'examples', f), 'utf8')).replaceAll('"my-car-1"', JSON.stringify(car)))
  }
  broker = await startTestBroker()
  api = await startTestApi({ FLEET_API_KEYS: DEV_API_KEYS })
  scorer = await startTestScorer()
  commander = await startTestCommander()
  shell = startShell({ ...process.env, FLEET_LOG_LEVEL: 'warn', FLEET_PKI_DIR: join(examples, 'certs') })
})

after(async () => {
  shell?.close()
  await Promise.all([scorer?.stop(), api?.stop(), commander?.stop()].map(p => p?.catch(() => {})))
  await broker?.stop().catch(() => {})
  const keys = await redis.keys(`fleet:*:${car}`)
  if (keys.length > 0) await redis.del(...keys)
  await redis.zrem('fleet:scores', car)
  await redis.srem('fleet:anomalous', car)
  redis.disconnect()
  await rm(examples, { recursive: true, force: true })
  await rm(`/tmp/${car}-command.json`, { force: true })
})

test('the example files: telemetry.json is a valid message for my-car-1, telemetry-invalid.json is refused for its rpm', async () => {
  const valid = parseTelemetry(await readFile(join(ROOT, 'examples/telemetry.json')), 'my-car-1', 16_384)
  assert.ok(valid.ok, valid.ok ? '' : valid.detail)
  const invalid = parseTelemetry(await readFile(join(ROOT, 'examples/telemetry-invalid.json')), 'my-car-1', 16_384)
  assert.deepEqual(invalid, { ok: false, reason: 'schema', detail: '/rpm: Expected number' })
})

test('docs/connect-a-car.md, block by block: provision, publish, see it in Kafka and the API, find a refusal\'s reason, command the car, connect with a certificate', async () => {
  const doc = await readFile(DOC, 'utf8')
  for (const s of ['my-car-1', 'examples/', '-p 1883', 'http://127.0.0.1:8080', 'fleet-dev-operator-key', 'certs/']) assert.ok(doc.includes(s), `the doc no longer says ${s}; this test's substitutions are stale`)
  const blocks = await docBlocks()
  const step = (pattern: RegExp) => {
    const found = blocks.filter(b => pattern.test(b))
    assert.equal(found.length, 1, `one block of the doc matches ${pattern}`)
    return found[0]!
  }
  const provision = step(/npm run -s provision/)
  const publish = step(/-P "\$TOKEN" -t vehicles\/my-car-1\/telemetry -f examples\/telemetry\.json/)
  const tail = step(/npm run tail -- vehicle\.telemetry --/)
  const state = step(/\/v1\/vehicles\/my-car-1$/)
  const publishInvalid = step(/-f examples\/telemetry-invalid\.json/)
  const rejections = step(/\/rejections/)
  const tailDlq = step(/npm run tail -- vehicle\.telemetry\.dlq/)
  const command = step(/-t vehicles\/my-car-1\/commands -C 1/)
  const ack = step(/commands\/ack/)
  const pki = step(/npm run pki -- init/)
  const publishTls = step(/-p 8883/)
  const publishV5 = step(/-V mqttv5/)
  assert.deepEqual(blocks, [provision, publish, tail, state, publishInvalid, rejections, tailDlq, command, ack, pki, publishTls, publishV5], 'the doc\'s blocks, in this order, are all tested')
  const sample = JSON.parse((await readFile(join(examples, 'telemetry.json'), 'utf8'))) as Record<string, unknown>

  // 1. provision: the car is registered and TOKEN is set in the shell
  const p = await shell.run(localize(provision))
  assert.equal(p.code, 0, p.output)
  assert.ok(await redis.exists(vehicleKey(car)), 'the car is provisioned in Redis')
  assert.ok(Number((await shell.run('printf %s "$TOKEN" | wc -c')).output.trim()) > 20, 'TOKEN holds the password')

  // 2. publish at QoS 1: exits 0, i.e. PUBACKed
  const pub = await shell.run(localize(publish))
  assert.equal(pub.code, 0, pub.output)

  // 3a. tail: the record in vehicle.telemetry, key = the car, value = the file
  const t = await shell.run(localize(tail))
  assert.equal(t.code, 0, t.output)
  const records = jsonLines(t.output)
  assert.equal(records.length, 1, t.output)
  assert.equal(records[0]!.key, car)
  assert.equal(records[0]!.topic, 'vehicle.telemetry')
  assert.deepEqual(records[0]!.value, sample)
  assert.ok(typeof records[0]!.headers === 'object')

  // 3b. the api: the car's latest message and its score, once scored (a user would re-run the curl)
  let detail: Record<string, unknown> = {}
  for (let i = 0; i < 60 && detail.telemetry == null; i++) {
    const s = await shell.run(localize(state))
    assert.equal(s.code, 0, s.output)
    detail = JSON.parse(s.output) as Record<string, unknown>
    if (detail.telemetry == null) await new Promise(resolve => setTimeout(resolve, 500))
  }
  assert.equal(detail.vehicleId, car)
  assert.equal(detail.provisioned, true)
  assert.deepEqual(detail.telemetry, sample, 'the latest message, as sent')
  assert.equal(typeof detail.score, 'number')

  // 4. an invalid message: PUBACKed all the same; its reason in the api and in the DLQ via tail
  const bad = await shell.run(localize(publishInvalid))
  assert.equal(bad.code, 0, bad.output)
  let items: Array<Record<string, unknown>> = []
  for (let i = 0; i < 40 && items.length === 0; i++) {
    const r = await shell.run(localize(rejections))
    assert.equal(r.code, 0, r.output)
    items = (JSON.parse(r.output) as { items: Array<Record<string, unknown>> }).items
    if (items.length === 0) await new Promise(resolve => setTimeout(resolve, 250))
  }
  assert.equal(items.length, 1)
  assert.deepEqual({ ...items[0], at: undefined }, { at: undefined, topic: `vehicles/${car}/telemetry`, reason: 'schema', detail: '/rpm: Expected number', source: `broker:${broker.broker.id}`, dropped: 0 })
  assert.ok(Math.abs(Date.parse(items[0]!.at as string) - Date.now()) < 60_000)
  assert.ok(!JSON.stringify(items).includes('767'), 'never the payload')

  const d = await shell.run(localize(tailDlq))
  assert.equal(d.code, 0, d.output)
  const dlq = jsonLines(d.output)
  assert.equal(dlq.length, 1, d.output)
  assert.equal(dlq[0]!.key, car)
  assert.deepEqual(dlq[0]!.headers, { reason: 'schema' })
  const value = dlq[0]!.value as Record<string, unknown>
  assert.equal(value.reason, 'schema')
  assert.equal(value.detail, '/rpm: Expected number')
  assert.equal(Buffer.from(value.payloadBase64 as string, 'base64').toString(), await readFile(join(examples, 'telemetry-invalid.json'), 'utf8'))

  // 5. a command: the car (mosquitto_sub) gets it, acks it, and the record says acknowledged
  const c = await shell.run(localize(command), 90_000)
  assert.equal(c.code, 0, c.output)
  const created = JSON.parse(c.output.split('\n').find(l => l.includes('"status"'))!) as { commandId: string, status: string }
  assert.match(created.status, /^(pending|sent)$/, c.output)
  const received = JSON.parse(c.output.split('\n').filter(l => l.startsWith('{')).at(-1)!) as { commandId: string, type: string, params: unknown }
  assert.deepEqual([received.commandId, received.type, received.params], [created.commandId, 'flash-lights', { times: 2 }])
  const a = await shell.run(localize(ack))
  assert.equal(a.code, 0, a.output)
  const record = JSON.parse(a.output) as { commandId: string, status: string }
  assert.deepEqual([record.commandId, record.status], [created.commandId, 'acknowledged'])

  // 6. certificates: the pki commands (FLEET_PKI_DIR points them at this run's folder), a broker
  // with the TLS settings of the doc's `npm start` line, the car connecting with its certificate
  const k = await shell.run(localize(pki), 120_000)
  assert.equal(k.code, 0, k.output)
  const startLine = doc.match(/^(FLEET_TLS_\S+=\S+ )+npm start$/m)
  assert.ok(startLine !== null, 'the doc says how to start with TLS')
  const tlsEnv = Object.fromEntries(startLine[0].split(' ').slice(0, -2).map(kv => kv.split('=') as [string, string]).map(([key, v]) => [key, localize(v)]))
  assert.deepEqual(Object.keys(tlsEnv), ['FLEET_TLS_CERT_FILE', 'FLEET_TLS_KEY_FILE', 'FLEET_TLS_CA_FILE'])
  const tlsBroker = await startTestBroker({ ...tlsEnv, FLEET_MQTTS_PORT: '0', FLEET_MQTT_WSS_PORT: '-1' })
  try {
    const pt = await shell.run(localize(publishTls).replace('-p 8883', `-p ${tlsBroker.tlsPort}`))
    assert.equal(pt.code, 0, pt.output)
    assert.equal(await tlsBroker.metric('fleet_broker_connects_total', { result: 'accepted_certificate' }), 1)
    assert.equal(await tlsBroker.metric('fleet_broker_messages_in_total', { class: 'telemetry' }), 1)
  } finally {
    await tlsBroker.stop()
  }

  // 7. MQTT 5 on the same listener, with a User Property: PUBACKed (exit 0), one more telemetry message in
  const before = await broker.metric('fleet_broker_messages_in_total', { class: 'telemetry' })
  const v5 = await shell.run(localize(publishV5))
  assert.equal(v5.code, 0, v5.output)
  assert.equal(await broker.metric('fleet_broker_messages_in_total', { class: 'telemetry' }), before + 1)
})

test('the rejections endpoint starts closed: no key 401, the read-only key 200', async () => {
  const url = `${api.url}/v1/vehicles/${car}/rejections`
  assert.equal((await fetch(url)).status, 401)
  const r = await fetch(`${url}?limit=1`, { headers: { 'X-API-Key': 'fleet-dev-read-only-key' } })
  assert.equal(r.status, 200)
  assert.ok(Array.isArray(((await r.json()) as { items: unknown[] }).items))
  assert.equal((await fetch(`${url}?limit=21`, { headers: { 'X-API-Key': 'fleet-dev-read-only-key' } })).status, 400)
})

test('a refused CONNECT: mosquitto_pub prints what the doc says for a wrong token, a wrong client id, a revoked car', async () => {
  const doc = (await readFile(DOC, 'utf8')).replace(/\s+/g, ' ')
  const pub = (creds: { clientId: string, username: string, password: string }) => runCli(MOSQUITTO_PUB, [...connectArgs(broker.mqttPort, creds), '-q', '1', '-t', `vehicles/${creds.username}/telemetry`, '-f', join(examples, 'telemetry.json')])
  const revoked = `${car}-revoked`
  const token = (await runCli('npm', ['run', '-s', 'provision', '--', revoked], 60_000)).output.match(/password=(\S+)/)?.[1]
  assert.ok(token !== undefined)
  const revoke = await runCli('npm', ['run', '-s', 'provision', '--', '--revoke', revoked], 60_000)
  assert.equal(revoke.code, 0, revoke.output)
  const cases: Array<[string, { clientId: string, username: string, password: string }, RegExp]> = [
    ['a wrong token', { clientId: car, username: car, password: 'not-the-token' }, /Connection Refused: bad user name or password\./],
    ['a wrong client id', { clientId: `${car}-phone`, username: revoked, password: token }, /Connection Refused: identifier rejected\./],
    ['a revoked car', { clientId: revoked, username: revoked, password: token }, /Connection Refused: not authorised\./]
  ]
  try {
    for (const [what, creds, message] of cases) {
      assert.match(doc, new RegExp(message.source.replace('Connection Refused: ', '')), `the doc says what ${what} prints`)
      const r = await pub(creds)
      assert.notEqual(r.code, 0, what)
      assert.match(r.output, message, what)
    }
  } finally {
    const keys = await redis.keys(`fleet:*:${revoked}`)
    if (keys.length > 0) await redis.del(...keys)
    await redis.srem(REVOKED_VEHICLES_KEY, revoked)
  }
})

test('a car flooding invalid messages: every one PUBACKed, its rejection list stays bounded and Redis gets a few writes per second', async () => {
  const flooder = `${car}-flood`
  const client = await connectCar(flooder, broker.mqttPort)
  const before = { written: await broker.metric('fleet_broker_rejections_logged_total', { result: 'written' }), dropped: await broker.metric('fleet_broker_rejections_logged_total', { result: 'dropped' }) }
  const n = 3_000
  const started = Date.now()
  try {
    await Promise.all(Array.from({ length: n }, (_, i) => client.publishAsync(`vehicles/${flooder}/telemetry`, `{"seq":${i}`, { qos: 1 })))
    const seconds = (Date.now() - started) / 1_000
    const key = rejectionsKey(flooder)
    // the last flush is at most a second away
    const deadline = Date.now() + 5_000
    let written = 0
    let dropped = 0
    while (Date.now() < deadline) {
      written = await broker.metric('fleet_broker_rejections_logged_total', { result: 'written' }) - before.written
      dropped = await broker.metric('fleet_broker_rejections_logged_total', { result: 'dropped' }) - before.dropped
      if (written + dropped === n) break
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    assert.equal(written + dropped, n, 'each refusal is written or counted as dropped')
    assert.ok(written <= 5 * (Math.ceil(seconds) + 2), `at most 5 entries per flush (1 s): ${written} written in ${seconds.toFixed(1)} s`)
    const list = (await redis.lrange(key, 0, -1)).map(r => parseRejection(r)!)
    assert.ok(list.length >= 1 && list.length <= REJECTIONS_KEPT, `${list.length} entries`)
    assert.ok(list.every(r => r.reason === 'not_json'))
    assert.ok(list.some(r => r.dropped > 0), 'the list says that more were refused than it shows')
    assert.ok(await redis.ttl(key) > 0, 'the list expires')
  } finally {
    await client.endAsync()
    await redis.del(rejectionsKey(flooder))
  }
})

test('npm run tail ends on Ctrl-C (SIGINT to its process group, as a terminal sends it) within seconds', async () => {
  const tail = spawn('npm', ['run', '-s', 'tail', '--', 'vehicle.telemetry', '--vehicle', car], { cwd: ROOT, env: process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  let err = ''
  tail.stderr.on('data', (d: Buffer) => { err += d.toString() })
  const exited = new Promise<string>(resolve => tail.once('close', (code, signal) => resolve(`${code ?? signal}`)))
  try {
    const deadline = Date.now() + 60_000
    while (!err.includes('Ctrl-C to stop') && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 100))
    assert.match(err, /tailing vehicle\.telemetry for .* from now on; Ctrl-C to stop/)
    const t0 = Date.now()
    process.kill(-tail.pid!, 'SIGINT')
    const code = await Promise.race([exited, new Promise<'hung'>(resolve => setTimeout(() => resolve('hung'), 15_000))])
    // npm and sh end by the signal, as commands a terminal interrupts do (the shell says 130)
    assert.ok(['0', '130', 'SIGINT'].includes(code), `${code}: ${err}`)
    // it leaves its group first, 3 s at most (a shared CI machine may be slow)
    assert.ok(Date.now() - t0 < 10_000, `${Date.now() - t0} ms`)
  } finally {
    try { process.kill(-tail.pid!, 'SIGKILL') } catch {}
  }
})
