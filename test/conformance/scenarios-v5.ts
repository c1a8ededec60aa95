// MQTT 5 conformance scenarios (issue #22), run like the MQTT 3.1.1 ones against fleet and
// Mosquitto in the same run, with mqtt.js (protocolVersion 5), `mosquitto_pub -V mqttv5` and
// hand-built MQTT 5 packets. Same rules: `pass` when the target does what the feature says,
// `differs` when it does something else the scenario also checked.
import assert from 'node:assert/strict'
import type { Packet } from 'mqtt-packet'
import { connectArgs, MOSQUITTO_PUB, runCli } from '../helpers/mosquitto-cli.js'
import { connect5, rawConnect } from '../helpers/raw-mqtt.js'
import type { Outcome, Scenario } from './scenarios.js'
import { connectMqtt, sleep, until, type Creds, type Target } from './targets.js'

const QUIET_MS = 700
const pass = (detail?: string): Outcome => detail === undefined ? { result: 'pass' } : { result: 'pass', detail }
const differs = (detail: string): Outcome => ({ result: 'differs', detail })
const v5 = { protocolVersion: 5 as const }

async function rawSession5 (t: Target, creds: Creds) {
  const raw = await rawConnect(t.port, 5)
  raw.send(connect5(creds))
  const connack = await raw.next('connack') as { reasonCode?: number }
  assert.equal(connack.reasonCode, 0, `CONNACK ${connack.reasonCode}`)
  return raw
}

export const scenariosV5: Scenario[] = [
  {
    feature: 'MQTT 5: CONNECT accepted on the same listener; the CONNACK says Receive Maximum, Maximum Packet Size and Topic Alias Maximum',
    clients: ['mqtt.js'],
    expected: { fleet: 'pass', mosquitto: 'differs' },
    note: 'fleet: Receive Maximum is the per-car in-flight window (`FLEET_MAX_INFLIGHT_PER_CAR`), Maximum Packet Size `FLEET_MAX_PACKET_BYTES`, Topic Alias Maximum `FLEET_MQTT_TOPIC_ALIAS_MAX`; Mosquitto with its defaults says only what it limits (Topic Alias Maximum 10)',
    async run (t) {
      const id = t.newCarId('v5caps')
      const c = await connectMqtt(t.port, t.car(id), v5)
      const props = c.connackProperties
      await c.client.endAsync()
      const said = ['receiveMaximum', 'maximumPacketSize', 'topicAliasMaximum'].filter(k => props[k] !== undefined)
      const detail = said.map(k => `${k} ${String(props[k])}`).join(', ') || 'none of them'
      return said.length === 3 ? pass(detail) : differs(detail)
    }
  },
  {
    feature: 'MQTT 5: a PUBLISH the client may not make gets PUBACK 0x87 (not authorized) and the connection stays',
    clients: ['mqtt.js', 'mosquitto_pub/sub'],
    expected: { fleet: 'pass', mosquitto: 'pass' },
    note: 'fleet: `fleet_broker_refused_total{reason="publish_denied"}`; an MQTT 3.1.1 car is disconnected instead (3.1.1 has no reason codes)',
    async run (t, client) {
      const id = t.newCarId('v5deny')
      const { topic, watch } = t.forbiddenPublication(id)
      const w = await watch()
      try {
        let code: number
        if (client === 'mqtt.js') {
          const car = await connectMqtt(t.port, t.car(id), v5)
          code = await car.client.publishAsync(topic, t.telemetryPayload(id, 1), { qos: 1 }).then(() => 0, (err: { code?: number }) => err.code ?? -1)
          await sleep(QUIET_MS)
          assert.ok(car.client.connected, 'the connection stays')
          await car.client.endAsync()
        } else {
          const r = await runCli(MOSQUITTO_PUB, [...connectArgs(t.port, t.car(id), 'mqttv5'), '-d', '-q', '1', '-t', topic, '-m', t.telemetryPayload(id, 1)], 5_000)
          const m = r.output.match(/received PUBACK \(Mid: \d+, RC:(\d+)\)/i)
          assert.ok(m !== null, r.output)
          code = Number(m[1])
        }
        assert.deepEqual(w.received, [], 'not delivered')
        return code === 0x87 ? pass('PUBACK 0x87, connection kept') : differs(`PUBACK ${code}, dropped`)
      } finally {
        await w.stop()
      }
    }
  },
  {
    feature: 'MQTT 5: a User Property on a PUBLISH reaches the message\'s destination',
    clients: ['mosquitto_pub/sub'],
    expected: { fleet: 'pass', mosquitto: 'pass' },
    note: 'fleet: a car\'s telemetry User Properties become its Kafka record\'s headers (e.g. `traceparent`; at most 16, 4 KiB); Mosquitto forwards them to an MQTT 5 subscriber',
    async run (t) {
      const id = t.newCarId('v5prop')
      const w = await t.watchTelemetry(id, { mqtt5: true })
      try {
        const r = await runCli(MOSQUITTO_PUB, [...connectArgs(t.port, t.car(id), 'mqttv5'), '-q', '1', '-t', t.telemetry(id), '-m', t.telemetryPayload(id, 1), '-D', 'publish', 'user-property', 'traceparent', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'], 5_000)
        assert.equal(r.code, 0, r.output)
        const [got] = await w.waitFor(1, 10_000)
        return got!.userProperties?.traceparent === '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' ? pass() : differs(`arrived with ${JSON.stringify(got!.userProperties ?? {})}`)
      } finally {
        await w.stop()
      }
    }
  },
  {
    feature: 'MQTT 5: Topic Alias: a PUBLISH naming its topic by alias only reaches that topic [MQTT-3.3.2-12]',
    clients: ['raw packets'],
    expected: { fleet: 'pass', mosquitto: 'pass' },
    note: 'cellular bytes: the topic is sent once per connection',
    async run (t) {
      const id = t.newCarId('v5alias')
      const w = await t.watchTelemetry(id)
      try {
        const raw = await rawSession5(t, t.car(id))
        raw.send({ cmd: 'publish', topic: t.telemetry(id), payload: Buffer.from(t.telemetryPayload(id, 1)), qos: 1, messageId: 1, retain: false, dup: false, properties: { topicAlias: 1 } } as Packet)
        raw.send({ cmd: 'publish', topic: '', payload: Buffer.from(t.telemetryPayload(id, 2)), qos: 1, messageId: 2, retain: false, dup: false, properties: { topicAlias: 1 } } as Packet)
        await raw.next('puback')
        await raw.next('puback')
        await w.waitFor(2, 10_000)
        raw.send({ cmd: 'disconnect' } as Packet)
        await raw.closed
        return pass()
      } finally {
        await w.stop()
      }
    }
  },
  {
    feature: 'MQTT 5: a queued message is delivered with what is left of its Message Expiry Interval [MQTT-3.3.2-6]',
    clients: ['mqtt.js'],
    expected: { fleet: 'pass', mosquitto: 'pass' },
    note: 'fleet: a command\'s TTL (its expiresAt), or the publisher\'s interval if shorter, so a queued command expires in the car\'s session',
    async run (t) {
      const id = t.newCarId('v5mexp')
      const car = t.car(id)
      const first = await connectMqtt(t.port, car, { ...v5, clean: false, properties: { sessionExpiryInterval: 300 } })
      await first.client.subscribeAsync(t.commands(id), { qos: 1 })
      await first.client.endAsync()
      const pub = await connectMqtt(t.port, t.publisher('v5mexp'), v5)
      await pub.client.publishAsync(t.commands(id), 'expires', { qos: 1, properties: { messageExpiryInterval: 60 } })
      await pub.client.endAsync()
      const back = await connectMqtt(t.port, car, { ...v5, clean: false, properties: { sessionExpiryInterval: 300 } })
      try {
        await until('the queued message', () => back.received.length >= 1)
        const left = back.received[0]!.messageExpiryInterval
        return left !== undefined && left > 0 && left <= 60 ? pass(`Message Expiry Interval ${left}`) : differs(`Message Expiry Interval ${String(left)}`)
      } finally {
        await back.client.endAsync()
        const drop = await connectMqtt(t.port, car, { ...v5, clean: true })
        await drop.client.endAsync()
      }
    }
  },
  {
    feature: 'MQTT 5: a second connection with the same client id ends the first with DISCONNECT 0x8E (session taken over)',
    clients: ['mqtt.js'],
    expected: { fleet: 'pass', mosquitto: 'differs' },
    note: '[MQTT-3.1.4-3]; fleet across pods too. Mosquitto 2.0.11 closes the first connection without a DISCONNECT',
    async run (t) {
      const id = t.newCarId('v5take')
      const a = await connectMqtt(t.port, t.car(id), v5)
      const reason = new Promise<number | undefined>(resolve => a.client.once('disconnect', (p: { reasonCode?: number }) => resolve(p.reasonCode)))
      const b = await connectMqtt(t.port, t.car(id), v5)
      const code = await Promise.race([reason, a.closed.then(() => sleep(200)).then(() => 'closed' as const)])
      await b.client.endAsync()
      a.client.end(true)
      return code === 0x8E ? pass() : differs(code === 'closed' ? 'closed without a DISCONNECT' : `DISCONNECT ${String(code)}`)
    }
  }
]
