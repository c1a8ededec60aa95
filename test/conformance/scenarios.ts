// MQTT 3.1.1 conformance scenarios (and, appended, the MQTT 5 ones of scenarios-v5.ts), each run against every target (fleet, Mosquitto) with one or
// more independent clients: mqtt.js, Debian's mosquitto_pub/mosquitto_sub (libmosquitto, C), and
// hand-built packets over a raw socket. A scenario asserts what must hold on any target and
// reports `pass` when the target does what the feature says, `differs` when it does something
// else that the scenario also checked (fleet on purpose, or a peer's own choice); each scenario
// states what it expects of each target and why, and the docs/conformance.md table is made from that.
import assert from 'node:assert/strict'
import type { Packet } from 'mqtt-packet'
import { connectArgs, MOSQUITTO_PUB, MOSQUITTO_SUB, runCli, startCli } from '../helpers/mosquitto-cli.js'
import { connectObject, connectPacket, rawConnect, type ConnectOptions, type RawConnection } from '../helpers/raw-mqtt.js'
import { connectMqtt, dropSession, sleep, subscribe, until, type Creds, type Target, type TargetName } from './targets.js'
import { scenariosV5 } from './scenarios-v5.js'

export type Result = 'pass' | 'differs'
export type ClientKind = 'mqtt.js' | 'mosquitto_pub/sub' | 'raw packets'
export interface Outcome { result: Result, detail?: string }

export interface Scenario {
  feature: string
  clients: ClientKind[]
  expected: Record<TargetName, Result>
  /** For the docs table: why a target differs, or what is worth knowing. */
  note: string
  run: (t: Target, client: ClientKind) => Promise<Outcome>
}

/** How long "nothing arrives" is watched for; routed deliveries take a few ms here. */
const QUIET_MS = 700
const pass = (detail?: string): Outcome => detail === undefined ? { result: 'pass' } : { result: 'pass', detail }
const differs = (detail: string): Outcome => ({ result: 'differs', detail })
const text = (b: Buffer) => b.toString('utf8')

// --- mosquitto_pub / mosquitto_sub ------------------------------------------------------------

const SUB_FORMAT = ['-F', 'MSG %q %r %t %p']
interface CliMessage { qos: number, retain: boolean, topic: string, payload: string }
function cliMessages (output: string): CliMessage[] {
  return [...output.matchAll(/^MSG (\d) (\d) (\S+) (.*)$/gm)].map(m => ({ qos: Number(m[1]), retain: m[2] === '1', topic: m[3]!, payload: m[4]! }))
}

/** mosquitto_sub holding a subscription until it has `count` messages; resolves once subscribed. */
async function cliSubscriber (t: Target, creds: Creds, topic: string, qos: number, count: number, extra: string[] = []) {
  const sub = startCli(MOSQUITTO_SUB, [...connectArgs(t.port, creds), '-d', '-q', String(qos), '-t', topic, '-C', String(count), ...SUB_FORMAT, ...extra])
  const [, granted] = await sub.waitFor(/Subscribed \(mid: \d+\): (\d+)/)
  return { sub, granted: Number(granted) }
}

async function cliPublishOk (t: Target, creds: Creds, topic: string, qos: number, message: string | null, extra: string[] = []) {
  const r = await runCli(MOSQUITTO_PUB, [...connectArgs(t.port, creds), '-q', String(qos), '-t', topic, ...(message === null ? ['-n'] : ['-m', message]), ...extra])
  assert.equal(r.code, 0, `mosquitto_pub exited with ${r.code}: ${r.output}`)
}

// --- raw packets -------------------------------------------------------------------------------

function connectRaw (creds: Creds, opts: Omit<ConnectOptions, 'clientId' | 'username' | 'password'> = {}): Packet {
  return connectObject({ ...creds, ...opts })
}

async function rawSession (t: Target, creds: Creds, opts: Parameters<typeof connectRaw>[1] = {}): Promise<RawConnection> {
  const raw = await rawConnect(creds.port ?? t.port)
  raw.send(connectRaw(creds, opts))
  const connack = await raw.next('connack') as { returnCode: number }
  assert.equal(connack.returnCode, 0, `CONNACK ${connack.returnCode}`)
  return raw
}

const publishPacket = (topic: string, payload: string, qos: 0 | 1 | 2, messageId: number, dup = false): Packet =>
  ({ cmd: 'publish', topic, payload: Buffer.from(payload), qos, messageId, retain: false, dup }) as Packet

/** QoS 2 from `creds` to `topic`, with a DUP resend before PUBREL on the same connection and, for
 *  a second message, after a reconnect with the session kept [MQTT-4.3.3-2]. */
async function qos2WithResends (t: Target, creds: Creds, topic: string, payloads: [string, string]) {
  const a = await rawSession(t, creds, { clean: false })
  a.send(publishPacket(topic, payloads[0], 2, 7))
  await a.next('pubrec')
  a.send(publishPacket(topic, payloads[0], 2, 7, true))
  await a.next('pubrec')
  a.send({ cmd: 'pubrel', messageId: 7 } as Packet)
  await a.next('pubcomp')
  a.send(publishPacket(topic, payloads[1], 2, 8))
  await a.next('pubrec')
  a.socket.destroy() // connection lost before the PUBREL went out
  await a.closed
  const b = await rawSession(t, creds, { clean: false })
  b.send(publishPacket(topic, payloads[1], 2, 8, true))
  await b.next('pubrec')
  b.send({ cmd: 'pubrel', messageId: 8 } as Packet)
  await b.next('pubcomp')
  b.send({ cmd: 'disconnect' } as Packet)
  await b.closed
  await dropSession(t, creds)
}

// --- scenarios ---------------------------------------------------------------------------------

function deliveryScenario (qos: 0 | 1 | 2): Scenario {
  return {
    feature: `QoS ${qos}${qos === 2 ? ' (PUBREC, PUBREL, PUBCOMP)' : qos === 1 ? ' (PUBACK)' : ''}: delivered to a subscriber at QoS ${qos}; a car's own QoS ${qos} publish reaches its destination`,
    clients: ['mqtt.js', 'mosquitto_pub/sub'],
    expected: { fleet: 'pass', mosquitto: 'pass' },
    note: qos === 0
      ? 'fleet: the publisher stands in for the broker\'s in-process command publish (`vehicles/{id}/commands`), the subscriber is the car; a car\'s telemetry goes to Kafka, never to subscribers'
      : qos === 1 ? 'fleet: the car\'s PUBACK leaves only after Kafka acknowledged the record' : 'fleet: the car\'s PUBREC leaves only after Kafka acknowledged the record',
    async run (t, client) {
      const id = t.newCarId(`q${qos}`)
      const payload = `hello-q${qos}`
      const sink = await t.watchTelemetry(id)
      try {
        if (client === 'mqtt.js') {
          const car = await connectMqtt(t.port, t.car(id))
          assert.equal(await subscribe(car.client, t.commands(id), 2), 2)
          const pub = await connectMqtt(t.port, t.publisher('q'))
          await pub.client.publishAsync(t.commands(id), payload, { qos })
          await until('delivery', () => car.received.length >= 1)
          const [m] = car.received
          assert.deepEqual([text(m!.payload), m!.qos, m!.retain], [payload, qos, false])
          await car.client.publishAsync(t.telemetry(id), t.telemetryPayload(id, 1), { qos })
          await Promise.all([car.client.endAsync(), pub.client.endAsync()])
        } else {
          const { sub, granted } = await cliSubscriber(t, t.car(id), t.commands(id), 2, 1)
          assert.equal(granted, 2)
          await cliPublishOk(t, t.publisher('q'), t.commands(id), qos, payload)
          assert.equal((await sub.exited).code, 0, sub.output())
          assert.deepEqual(cliMessages(sub.output()), [{ qos, retain: false, topic: t.commands(id), payload }])
          await cliPublishOk(t, t.car(id), t.telemetry(id), qos, t.telemetryPayload(id, 1))
        }
        const [got] = await sink.waitFor(1, 10_000)
        assert.equal(text(got!.payload), t.telemetryPayload(id, 1))
        return pass()
      } finally {
        await sink.stop()
      }
    }
  }
}

const scenarios: Scenario[] = [
  deliveryScenario(0),
  deliveryScenario(1),
  deliveryScenario(2),
  {
    feature: 'Delivered QoS is the lower of the publish and the subscription QoS',
    clients: ['mqtt.js', 'mosquitto_pub/sub'],
    expected: { fleet: 'pass', mosquitto: 'pass' },
    note: '',
    async run (t, client) {
      const id = t.newCarId('minq')
      let got: Array<[string, number]>
      if (client === 'mqtt.js') {
        const car = await connectMqtt(t.port, t.car(id))
        assert.equal(await subscribe(car.client, t.commands(id), 1), 1)
        const pub = await connectMqtt(t.port, t.publisher('minq'))
        await pub.client.publishAsync(t.commands(id), 'sent-q2', { qos: 2 })
        await pub.client.publishAsync(t.commands(id), 'sent-q0', { qos: 0 })
        await until('two deliveries', () => car.received.length >= 2)
        got = car.received.map(m => [text(m.payload), m.qos])
        await Promise.all([car.client.endAsync(), pub.client.endAsync()])
      } else {
        const { sub } = await cliSubscriber(t, t.car(id), t.commands(id), 1, 2)
        await cliPublishOk(t, t.publisher('minq'), t.commands(id), 2, 'sent-q2')
        await cliPublishOk(t, t.publisher('minq'), t.commands(id), 0, 'sent-q0')
        await sub.exited
        got = cliMessages(sub.output()).map(m => [m.payload, m.qos])
      }
      assert.deepEqual(got.sort(), [['sent-q0', 0], ['sent-q2', 1]])
      return pass()
    }
  },
  {
    feature: 'QoS 2 exactly once: a PUBLISH re-sent (DUP) before its PUBREL, on the same connection or after a reconnect, is delivered once',
    clients: ['raw packets'],
    expected: { fleet: 'pass', mosquitto: 'pass' },
    note: 'both directions: publisher → subscribing car, and car → destination (fleet: exactly one Kafka record; until commit ed1ee03 fleet\'s Kafka write ran before aedes\' duplicate check and a resend landed twice)',
    async run (t) {
      const id = t.newCarId('once')
      const car = await connectMqtt(t.port, t.car(id))
      assert.equal(await subscribe(car.client, t.commands(id), 2), 2)
      await qos2WithResends(t, t.publisher('once'), t.commands(id), ['once-a', 'once-b'])
      await sleep(QUIET_MS)
      assert.deepEqual(car.received.map(m => text(m.payload)).sort(), ['once-a', 'once-b'])
      await car.client.endAsync()
      const sink = await t.watchTelemetry(id)
      try {
        await qos2WithResends(t, t.car(id), t.telemetry(id), [t.telemetryPayload(id, 1), t.telemetryPayload(id, 2)])
        await sink.waitFor(2, 10_000)
        await sleep(QUIET_MS)
        assert.equal(sink.received.length, 2, 'one copy of each message')
      } finally {
        await sink.stop()
      }
      return pass()
    }
  },
  {
    feature: 'Messages to one subscriber arrive in the order published (100 × QoS 1)',
    clients: ['mqtt.js'],
    expected: { fleet: 'pass', mosquitto: 'pass' },
    note: '',
    async run (t) {
      const id = t.newCarId('order')
      const car = await connectMqtt(t.port, t.car(id))
      await subscribe(car.client, t.commands(id), 1)
      const pub = await connectMqtt(t.port, t.publisher('order'))
      const sent = Array.from({ length: 100 }, (_, i) => `m${i}`)
      await Promise.all(sent.map(m => pub.client.publishAsync(t.commands(id), m, { qos: 1 })))
      await until('100 deliveries', () => car.received.length >= 100)
      assert.deepEqual(car.received.map(m => text(m.payload)), sent)
      await Promise.all([car.client.endAsync(), pub.client.endAsync()])
      return pass()
    }
  },
  {
    feature: 'Retained message kept and sent to a later subscriber with RETAIN=1 (live subscribers get RETAIN=0)',
    clients: ['mqtt.js', 'mosquitto_pub/sub'],
    expected: { fleet: 'differs', mosquitto: 'pass' },
    note: 'fleet on purpose: commands are never retained (the RETAIN flag is dropped), or every reconnecting car would run its last command again; a command for an offline car waits in its persistent session instead, until its TTL. A car\'s retained status is accepted, but no client may read it',
    async run (t, client) {
      const id = t.newCarId('ret')
      const pubCreds = t.publisher('ret')
      if (client === 'mqtt.js') {
        const live = await connectMqtt(t.port, t.car(id))
        await subscribe(live.client, t.commands(id), 1)
        const pub = await connectMqtt(t.port, pubCreds)
        await pub.client.publishAsync(t.commands(id), 'kept', { qos: 1, retain: true })
        await until('live delivery', () => live.received.length >= 1)
        assert.equal(live.received[0]!.retain, false, '[MQTT-3.3.1-9] RETAIN=0 to a subscriber that was there')
        await Promise.all([live.client.endAsync(), pub.client.endAsync()])
        const late = await connectMqtt(t.port, t.car(id))
        await subscribe(late.client, t.commands(id), 1)
        await sleep(QUIET_MS)
        await late.client.endAsync()
        if (late.received.length === 0) return differs('a later subscriber got nothing')
        assert.deepEqual(late.received.map(m => [text(m.payload), m.retain]), [['kept', true]])
        return pass()
      }
      await cliPublishOk(t, pubCreds, t.commands(id), 1, 'kept', ['-r'])
      const { sub } = await cliSubscriber(t, t.car(id), t.commands(id), 1, 1, ['-W', '1'])
      await sub.exited
      const got = cliMessages(sub.output())
      if (got.length === 0) return differs('a later subscriber got nothing')
      assert.deepEqual(got.map(m => [m.payload, m.retain]), [['kept', true]])
      return pass()
    }
  },
  {
    feature: 'A retained message is replaced by the next retained publish on its topic',
    clients: ['mqtt.js'],
    expected: { fleet: 'differs', mosquitto: 'pass' },
    note: 'fleet: nothing retained (see above)',
    async run (t) {
      const id = t.newCarId('rep')
      const pub = await connectMqtt(t.port, t.publisher('rep'))
      await pub.client.publishAsync(t.commands(id), 'first', { qos: 1, retain: true })
      await pub.client.publishAsync(t.commands(id), 'second', { qos: 1, retain: true })
      await pub.client.endAsync()
      const late = await connectMqtt(t.port, t.car(id))
      await subscribe(late.client, t.commands(id), 1)
      await sleep(QUIET_MS)
      await late.client.endAsync()
      if (late.received.length === 0) return differs('a later subscriber got nothing')
      assert.deepEqual(late.received.map(m => [text(m.payload), m.retain]), [['second', true]])
      return pass()
    }
  },
  {
    feature: 'An empty retained payload clears the retained message',
    clients: ['mqtt.js', 'mosquitto_pub/sub'],
    expected: { fleet: 'differs', mosquitto: 'pass' },
    note: 'fleet: nothing retained (see above)',
    async run (t, client) {
      const id = t.newCarId('clr')
      const pubCreds = t.publisher('clr')
      const later = async () => {
        const late = await connectMqtt(t.port, t.car(id))
        await subscribe(late.client, t.commands(id), 1)
        await sleep(QUIET_MS)
        await late.client.endAsync()
        return late.received.map(m => text(m.payload))
      }
      if (client === 'mqtt.js') {
        const pub = await connectMqtt(t.port, pubCreds)
        await pub.client.publishAsync(t.commands(id), 'kept', { qos: 1, retain: true })
        if ((await later()).length === 0) {
          await pub.client.endAsync()
          return differs('nothing was retained to clear')
        }
        await pub.client.publishAsync(t.commands(id), Buffer.alloc(0), { qos: 1, retain: true })
        await pub.client.endAsync()
      } else {
        await cliPublishOk(t, pubCreds, t.commands(id), 1, 'kept', ['-r'])
        if ((await later()).length === 0) return differs('nothing was retained to clear')
        await cliPublishOk(t, pubCreds, t.commands(id), 1, null, ['-r'])
      }
      assert.deepEqual(await later(), [], 'cleared: a later subscriber gets nothing')
      return pass()
    }
  },
  {
    feature: 'Will published when the connection ends without DISCONNECT',
    clients: ['mqtt.js', 'mosquitto_pub/sub'],
    expected: { fleet: 'pass', mosquitto: 'pass' },
    note: 'fleet: a car\'s will may only be its own `vehicles/{id}/status` (anything else: CONNACK 5); no client may subscribe to status, so the suite sees the broker publish it. Presence in Redis (what the api reads) marks the car offline either way',
    async run (t, client) {
      const id = t.newCarId('will')
      const watch = await t.watchStatus(id)
      try {
        if (client === 'mqtt.js') {
          const car = await connectMqtt(t.port, t.car(id), { will: { topic: t.status(id), payload: Buffer.from('gone'), qos: 1, retain: false } })
          car.client.stream.destroy() // no DISCONNECT: the socket just ends
          await car.closed
        } else {
          const { sub } = await cliSubscriber(t, t.car(id), t.commands(id), 1, 1, ['--will-topic', t.status(id), '--will-payload', 'gone', '--will-qos', '1'])
          await sub.kill('SIGKILL')
        }
        const [will] = await watch.waitFor(1)
        assert.equal(text(will!.payload), 'gone')
        return pass()
      } finally {
        await watch.stop()
      }
    }
  },
  {
    feature: 'Will published when the keepalive expires',
    clients: ['raw packets'],
    expected: { fleet: 'pass', mosquitto: 'pass' },
    note: 'Mosquitto: as late as its keepalive check (below)',
    async run (t) {
      const id = t.newCarId('kawill')
      const watch = await t.watchStatus(id)
      try {
        const t0 = Date.now()
        const raw = await rawSession(t, t.car(id), { keepalive: 1, will: { topic: t.status(id), payload: 'silent', qos: 1 } })
        const [will] = await watch.waitFor(1, 10_000)
        assert.equal(text(will!.payload), 'silent')
        await raw.closed
        return pass(`will after ${((Date.now() - t0) / 1_000).toFixed(2)} s of silence (keepalive 1 s)`)
      } finally {
        await watch.stop()
      }
    }
  },
  {
    feature: 'No will after a DISCONNECT',
    clients: ['mqtt.js', 'mosquitto_pub/sub'],
    expected: { fleet: 'pass', mosquitto: 'pass' },
    note: '',
    async run (t, client) {
      const id = t.newCarId('nowill')
      const watch = await t.watchStatus(id)
      try {
        if (client === 'mqtt.js') {
          const car = await connectMqtt(t.port, t.car(id), { will: { topic: t.status(id), payload: 'gone', qos: 1, retain: false } })
          await car.client.endAsync()
        } else {
          // -E: DISCONNECT once subscribed
          const r = await runCli(MOSQUITTO_SUB, [...connectArgs(t.port, t.car(id)), '-t', t.commands(id), '-E', '--will-topic', t.status(id), '--will-payload', 'gone'])
          assert.equal(r.code, 0, r.output)
        }
        await sleep(QUIET_MS)
        assert.deepEqual(watch.received, [])
        return pass()
      } finally {
        await watch.stop()
      }
    }
  },
  {
    feature: 'Persistent session: QoS 1 and 2 messages queued while the car is offline arrive when it returns (session present = 1)',
    clients: ['mqtt.js', 'mosquitto_pub/sub'],
    expected: { fleet: 'pass', mosquitto: 'pass' },
    note: 'fleet: the session and its queue live in Redis, so the car may come back to any broker pod (test/cluster.test.ts); a queued command past its TTL is not delivered. Neither broker queues QoS 0 for an offline client (optional in §3.1.2.4)',
    async run (t, client) {
      const id = t.newCarId('sess')
      const pubCreds = t.publisher('sess')
      try {
        if (client === 'mqtt.js') {
          const first = await connectMqtt(t.port, t.car(id), { clean: false })
          await subscribe(first.client, t.commands(id), 2)
          await first.client.endAsync()
          const pub = await connectMqtt(t.port, pubCreds)
          for (const qos of [0, 1, 2] as const) await pub.client.publishAsync(t.commands(id), `while-away-q${qos}`, { qos })
          await pub.client.endAsync()
          const back = await connectMqtt(t.port, t.car(id), { clean: false })
          assert.equal(back.sessionPresent, true, '[MQTT-3.2.2-2]')
          await until('queued messages', () => back.received.length >= 2)
          await sleep(200)
          await back.client.endAsync()
          const got = back.received.map(m => [text(m.payload), m.qos])
          assert.deepEqual(got.filter(([p]) => p !== 'while-away-q0'), [['while-away-q1', 1], ['while-away-q2', 2]])
          return pass(got.length === 3 ? 'QoS 0 was queued too' : 'QoS 0 not queued')
        }
        const first = await runCli(MOSQUITTO_SUB, [...connectArgs(t.port, t.car(id)), '-c', '-q', '2', '-t', t.commands(id), '-E'])
        assert.equal(first.code, 0, first.output)
        await cliPublishOk(t, pubCreds, t.commands(id), 1, 'while-away-q1')
        await cliPublishOk(t, pubCreds, t.commands(id), 2, 'while-away-q2')
        // run to the end: the queued messages may arrive before the SUBACK
        const back = await runCli(MOSQUITTO_SUB, [...connectArgs(t.port, t.car(id)), '-c', '-q', '2', '-t', t.commands(id), '-C', '2', '-W', '10', ...SUB_FORMAT])
        assert.equal(back.code, 0, back.output)
        assert.deepEqual(cliMessages(back.output).map(m => [m.payload, m.qos]), [['while-away-q1', 1], ['while-away-q2', 2]])
        return pass()
      } finally {
        await dropSession(t, t.car(id))
      }
    }
  },
  {
    feature: 'A clean session discards the stored session and its queue (session present = 0)',
    clients: ['mqtt.js'],
    expected: { fleet: 'pass', mosquitto: 'pass' },
    note: '',
    async run (t) {
      const id = t.newCarId('clean')
      const first = await connectMqtt(t.port, t.car(id), { clean: false })
      await subscribe(first.client, t.commands(id), 1)
      await first.client.endAsync()
      const pub = await connectMqtt(t.port, t.publisher('clean'))
      await pub.client.publishAsync(t.commands(id), 'queued', { qos: 1 })
      await pub.client.endAsync()
      const clean = await connectMqtt(t.port, t.car(id), { clean: true })
      assert.equal(clean.sessionPresent, false, '[MQTT-3.2.2-1]')
      await sleep(QUIET_MS)
      await clean.client.endAsync()
      assert.deepEqual(clean.received, [])
      const again = await connectMqtt(t.port, t.car(id), { clean: false })
      assert.equal(again.sessionPresent, false, 'the old session is gone')
      await sleep(200)
      await again.client.endAsync()
      assert.deepEqual(again.received, [])
      await dropSession(t, t.car(id))
      return pass()
    }
  },
  {
    feature: 'A second connection with the same client id takes the session over; the first is closed',
    clients: ['mqtt.js', 'mosquitto_pub/sub'],
    expected: { fleet: 'pass', mosquitto: 'pass' },
    note: 'fleet: also across broker pods (test/cluster.test.ts); a car can only take over its own session, the client id must be its vehicle id',
    async run (t, client) {
      const id = t.newCarId('take')
      const pubCreds = t.publisher('take')
      try {
        const first = await connectMqtt(t.port, t.car(id), { clean: false })
        await subscribe(first.client, t.commands(id), 1)
        if (client === 'mqtt.js') {
          const second = await connectMqtt(t.port, t.car(id), { clean: false })
          assert.equal(second.sessionPresent, true)
          await first.closed
          const pub = await connectMqtt(t.port, pubCreds)
          await pub.client.publishAsync(t.commands(id), 'after-takeover', { qos: 1 })
          await until('delivery to the new connection, without subscribing again', () => second.received.length >= 1)
          await Promise.all([second.client.endAsync(), pub.client.endAsync()])
        } else {
          const { sub } = await cliSubscriber(t, t.car(id), t.commands(id), 1, 1, ['-c'])
          await first.closed
          await cliPublishOk(t, pubCreds, t.commands(id), 1, 'after-takeover')
          assert.equal((await sub.exited).code, 0, sub.output())
          assert.deepEqual(cliMessages(sub.output()).map(m => m.payload), ['after-takeover'])
        }
        assert.deepEqual(first.received, [])
        return pass()
      } finally {
        await dropSession(t, t.car(id))
      }
    }
  },
  {
    feature: 'Keepalive: a silent client is disconnected after 1.5 × its keepalive',
    clients: ['raw packets'],
    expected: { fleet: 'pass', mosquitto: 'differs' },
    note: 'four silent clients, keepalive 1 s, connected 0.4 s apart; each must be closed 1.5–2.5 s after its CONNECT. Mosquitto 2.0 checks keepalives in whole seconds and only every 5–6 s (src/keepalive.c), so a silent client goes at its next check: 1.2 to 7 s after its CONNECT in our runs (times in `results/conformance.json`)',
    async run (t) {
      const ids = [0, 1, 2, 3].map(i => t.newCarId(`ka${i}`))
      const times = await Promise.all(ids.map(async (id, i) => {
        await sleep(i * 400)
        const raw = await rawConnect(t.port)
        const t0 = Date.now()
        raw.send(connectRaw(t.car(id), { keepalive: 1 }))
        assert.equal((await raw.next('connack') as { returnCode: number }).returnCode, 0)
        await Promise.race([raw.closed, sleep(10_000).then(() => { throw new Error('not closed within 10 s') })])
        return (Date.now() - t0) / 1_000
      }))
      const detail = `closed after ${times.map(s => s.toFixed(2)).join(', ')} s`
      return times.every(s => s >= 1.5 && s <= 2.5) ? pass(detail) : differs(detail)
    }
  },
  {
    feature: 'PINGREQ is answered with PINGRESP and keeps a client connected past 1.5 × its keepalive',
    clients: ['raw packets'],
    expected: { fleet: 'pass', mosquitto: 'pass' },
    note: '',
    async run (t) {
      const id = t.newCarId('ping')
      const raw = await rawSession(t, t.car(id), { keepalive: 1 })
      for (let i = 0; i < 5; i++) {
        raw.send({ cmd: 'pingreq' } as Packet)
        await raw.next('pingresp', 2_000)
        await sleep(700)
      }
      assert.equal(raw.isClosed(), false, 'still connected after 3.5 s')
      raw.send({ cmd: 'disconnect' } as Packet)
      await raw.closed
      return pass()
    }
  },
  {
    feature: 'Zero-length client id with a clean session: accepted, the server assigns an id',
    clients: ['mqtt.js'],
    expected: { fleet: 'pass', mosquitto: 'pass' },
    note: '',
    async run (t) {
      const id = t.newCarId('zid')
      const car = await connectMqtt(t.port, { ...t.car(id), clientId: '' }, { clean: true })
      assert.equal(await subscribe(car.client, t.commands(id), 1), 1)
      const pub = await connectMqtt(t.port, t.publisher('zid'))
      await pub.client.publishAsync(t.commands(id), 'to-anonymous-id', { qos: 1 })
      await until('delivery', () => car.received.length >= 1)
      await Promise.all([car.client.endAsync(), pub.client.endAsync()])
      return pass()
    }
  },
  {
    feature: 'Zero-length client id with a persistent session: CONNACK 0x02 (identifier rejected), then closed',
    clients: ['raw packets'],
    expected: { fleet: 'pass', mosquitto: 'pass' },
    note: 'mqtt.js refuses to send this CONNECT itself, so it is built by hand [MQTT-3.1.3-8]',
    async run (t) {
      const id = t.newCarId('zidp')
      const creds = t.car(id)
      const raw = await rawConnect(t.port)
      raw.send(connectPacket('', creds.username, creds.password, false))
      assert.equal((await raw.next('connack') as { returnCode: number }).returnCode, 2)
      await raw.closed
      return pass()
    }
  },
  {
    feature: 'Wildcard subscriptions (+ and #) are granted and match',
    clients: ['mqtt.js'],
    expected: { fleet: 'differs', mosquitto: 'pass' },
    note: 'fleet on purpose: a car subscribes to exactly its own `vehicles/{id}/commands`; any wildcard gets SUBACK 0x80 (no car reads another car\'s commands, and nobody reads telemetry over MQTT)',
    async run (t) {
      const id = t.newCarId('wild')
      const car = await connectMqtt(t.port, t.car(id))
      const pub = await connectMqtt(t.port, t.publisher('wild'))
      try {
        const grants: number[] = []
        for (const filter of t.wildcardFilters(id)) {
          const granted = await subscribe(car.client, filter, 1)
          grants.push(granted)
          if (granted === 128) continue
          const payload = `via ${filter}`
          await pub.client.publishAsync(t.commands(id), payload, { qos: 1 })
          // (other cars' retained messages match the wildcard too)
          await until(`delivery through ${filter}`, () => car.received.some(m => text(m.payload) === payload))
          await car.client.unsubscribeAsync(filter)
        }
        if (grants.every(g => g === 128)) {
          assert.ok(car.client.connected, 'a refused subscription keeps the connection')
          return differs(`SUBACK ${grants.map(g => `0x${g.toString(16)}`).join(', ')}`)
        }
        assert.deepEqual(grants, [1, 1])
        return pass()
      } finally {
        await Promise.all([car.client.endAsync(), pub.client.endAsync()])
      }
    }
  },
  {
    feature: 'Overlapping subscriptions: a message matching two of a client\'s filters arrives at least once at the highest of their QoS',
    clients: ['mqtt.js'],
    expected: { fleet: 'differs', mosquitto: 'differs' },
    note: 'fleet: a car\'s subscriptions cannot overlap, wildcards are refused (above). Mosquitto 2.0.11 sends one copy at the QoS of the exact-topic subscription, not the highest [MQTT-3.3.5-1] (the same under MQTT 5: eclipse-mosquitto/mosquitto#3319)',
    async run (t) {
      const id = t.newCarId('ovl')
      const car = await connectMqtt(t.port, t.car(id))
      const pub = await connectMqtt(t.port, t.publisher('ovl'))
      try {
        assert.equal(await subscribe(car.client, t.commands(id), 0), 0)
        const wildcard = await subscribe(car.client, t.wildcardFilters(id)[0]!, 1)
        await pub.client.publishAsync(t.commands(id), 'overlap', { qos: 2 })
        // (other cars' retained messages match the wildcard too)
        const copies = () => car.received.filter(m => m.topic === t.commands(id) && text(m.payload) === 'overlap')
        await until('a delivery', () => copies().length >= 1)
        await sleep(QUIET_MS)
        const qos = copies().map(m => m.qos)
        if (wildcard === 128) {
          assert.deepEqual(qos, [0], 'one copy through the one subscription granted')
          return differs('the wildcard filter was refused (0x80): no overlap possible')
        }
        const detail = `${qos.length} cop${qos.length === 1 ? 'y' : 'ies'} at QoS ${qos.join(', ')}`
        return qos.includes(1) ? pass(detail) : differs(detail)
      } finally {
        await Promise.all([car.client.endAsync(), pub.client.endAsync()])
      }
    }
  },
  {
    feature: 'SUBSCRIBE to a filter already held replaces that subscription (new QoS, one copy per message)',
    clients: ['mqtt.js'],
    expected: { fleet: 'pass', mosquitto: 'pass' },
    note: '[MQTT-3.8.4-3]',
    async run (t) {
      const id = t.newCarId('resub')
      const car = await connectMqtt(t.port, t.car(id))
      const pub = await connectMqtt(t.port, t.publisher('resub'))
      assert.equal(await subscribe(car.client, t.commands(id), 0), 0)
      assert.equal(await subscribe(car.client, t.commands(id), 2), 2)
      await pub.client.publishAsync(t.commands(id), 'once', { qos: 2 })
      await until('delivery', () => car.received.length >= 1)
      await sleep(QUIET_MS)
      assert.deepEqual(car.received.map(m => [text(m.payload), m.qos]), [['once', 2]])
      await Promise.all([car.client.endAsync(), pub.client.endAsync()])
      return pass()
    }
  },
  {
    feature: 'UNSUBSCRIBE is acknowledged (UNSUBACK) and nothing more arrives on that filter',
    clients: ['mqtt.js'],
    expected: { fleet: 'pass', mosquitto: 'pass' },
    note: '',
    async run (t) {
      const id = t.newCarId('unsub')
      const car = await connectMqtt(t.port, t.car(id))
      const pub = await connectMqtt(t.port, t.publisher('unsub'))
      await subscribe(car.client, t.commands(id), 1)
      await pub.client.publishAsync(t.commands(id), 'before', { qos: 1 })
      await until('delivery', () => car.received.length >= 1)
      await car.client.unsubscribeAsync(t.commands(id))
      await pub.client.publishAsync(t.commands(id), 'after', { qos: 1 })
      await sleep(QUIET_MS)
      assert.deepEqual(car.received.map(m => text(m.payload)), ['before'])
      assert.ok(car.client.connected)
      await Promise.all([car.client.endAsync(), pub.client.endAsync()])
      return pass()
    }
  },
  {
    feature: 'A subscription the client may not make is answered with SUBACK 0x80; the connection stays',
    clients: ['mqtt.js', 'mosquitto_pub/sub'],
    expected: { fleet: 'pass', mosquitto: 'differs' },
    note: 'fleet: another car\'s commands, any wildcard, any other topic; counted in `fleet_broker_refused_total{reason="subscribe_denied"}`. Mosquitto 2.0.11 with an ACL file grants the QoS asked for and then delivers nothing (its ACLs apply to deliveries only: eclipse-mosquitto/mosquitto#2042)',
    async run (t, client) {
      const id = t.newCarId('deny')
      const topic = t.forbiddenSubscription(id)
      if (client === 'mosquitto_pub/sub') {
        const r = await runCli(MOSQUITTO_SUB, [...connectArgs(t.port, t.car(id)), '-d', '-q', '1', '-t', topic, '-E'])
        const m = r.output.match(/Subscribed \(mid: \d+\): (\d+)/)
        assert.ok(m !== null, r.output)
        const granted = Number(m[1])
        return granted === 128 ? pass() : differs(`SUBACK granted QoS ${granted}`)
      }
      const car = await connectMqtt(t.port, t.car(id))
      const pub = await connectMqtt(t.port, t.publisher('deny'))
      try {
        const granted = await subscribe(car.client, topic, 1)
        await pub.client.publishAsync(topic, 'not for you', { qos: 1 })
        await sleep(QUIET_MS)
        assert.ok(car.client.connected, 'the connection stays')
        assert.deepEqual(car.received, [], 'nothing delivered on the refused filter')
        return granted === 128 ? pass() : differs(`SUBACK granted QoS ${granted}, nothing delivered`)
      } finally {
        await Promise.all([car.client.endAsync(), pub.client.endAsync()])
      }
    }
  },
  {
    feature: 'A PUBLISH the client may not make is not delivered: acknowledged and dropped, or the connection closed [MQTT-3.3.5-2]',
    clients: ['mqtt.js', 'mosquitto_pub/sub'],
    expected: { fleet: 'pass', mosquitto: 'pass' },
    note: 'fleet closes the connection (a car publishing outside its topics is broken or hostile; counted in `fleet_broker_refused_total{reason="publish_denied"}`); Mosquitto acknowledges and drops',
    async run (t, client) {
      const id = t.newCarId('pubdeny')
      const { topic, watch } = t.forbiddenPublication(id)
      const w = await watch()
      try {
        let detail: string
        const payload = t.telemetryPayload(id, 1)
        if (client === 'mqtt.js') {
          const car = await connectMqtt(t.port, t.car(id))
          const acked = car.client.publishAsync(topic, payload, { qos: 1 }).then(() => true, () => false)
          const outcome = await Promise.race([acked.then(ok => ok ? 'acknowledged' : 'refused'), car.closed.then(() => 'closed')])
          await sleep(QUIET_MS)
          detail = outcome === 'acknowledged' && car.client.connected ? 'PUBACK, connection kept, dropped' : 'connection closed, no PUBACK'
          car.client.end(true)
        } else {
          const r = await runCli(MOSQUITTO_PUB, [...connectArgs(t.port, t.car(id)), '-q', '1', '-t', topic, '-m', payload], 5_000)
          await sleep(QUIET_MS)
          detail = r.code === 0 ? 'mosquitto_pub got its PUBACK, dropped' : `mosquitto_pub failed (exit ${r.code}): connection closed`
        }
        assert.deepEqual(w.received, [], 'not delivered')
        return pass(detail)
      } finally {
        await w.stop()
      }
    }
  },
  ...scenariosV5
]

export default scenarios

/** The rows the docs table shows: one per feature, as the scenarios expect them. */
export function expectedRows (list: Scenario[] = scenarios) {
  return list.map(s => ({ feature: s.feature, clients: s.clients, fleet: s.expected.fleet, mosquitto: s.expected.mosquitto, note: s.note }))
}
