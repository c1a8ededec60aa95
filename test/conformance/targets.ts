// The two brokers the conformance suite drives, behind one interface: fleet (the real broker in
// this process, on the stack's Kafka and Redis) and Debian's Mosquitto (its own process, generated
// config). A target says how each role logs in and which topics a scenario uses, so one scenario
// runs unchanged against both. Fleet's car is a real one (its own token, its own topics). No MQTT
// identity may publish to a fleet car: commands enter the broker from Kafka and are published
// in-process. The publisher role on fleet is therefore a small relay standing in for that path: an
// in-memory aedes that hands every PUBLISH it gets to fleet's aedes in-process before its PUBACK
// (PUBCOMP for QoS 2), with the QoS given, as the broker's command intake does.
import { spawnSync } from 'node:child_process'
import { createServer, type AddressInfo } from 'node:net'
import { Aedes, type PublishPacket } from 'aedes'
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { validTelemetry } from '../../services/shared/src/telemetry-samples.js'
import { KafkaTopics, MqttTopics } from '../../services/shared/src/topics.js'
import { startTestBroker, type TestBroker } from '../helpers/broker.js'
import { uniqueFleetPrefix } from '../helpers/cars.js'
import { collect, type Collector } from '../helpers/kafka.js'
import { MOSQUITTO_BIN, startMosquitto, type MosquittoProcess } from '../helpers/mosquitto.js'
import { carPasswords } from '../helpers/credentials.js'

const CAR_POOL = 300

export type TargetName = 'fleet' | 'mosquitto'
/** `port`: where this role connects, when it is not the target's own port (fleet's publisher relay). */
export interface Creds { clientId: string, username?: string, password?: string, port?: number }
export interface Received { topic: string, payload: Buffer, qos: number, retain: boolean, userProperties?: Record<string, string>, messageExpiryInterval?: number }

export const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

export async function until (what: string, ok: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms: ${what}`)
    await sleep(10)
  }
}

/** Messages arriving somewhere a scenario can look: a subscriber, Kafka, or the broker itself. */
export interface Watch {
  received: Received[]
  /** Waits until `n` messages arrived. */
  waitFor: (n: number, ms?: number) => Promise<Received[]>
  stop: () => Promise<void>
}

function watchOf (received: Received[], what: string, stop: () => Promise<void>): Watch {
  return {
    received,
    async waitFor (n, ms = 5_000) {
      await until(`${n} message(s) at ${what} (have ${received.length})`, () => received.length >= n, ms)
      return received
    },
    stop
  }
}

export interface Target {
  name: TargetName
  /** e.g. "Mosquitto 2.0.11" */
  label: string
  port: number
  /** A car id not used before in this run. */
  newCarId: (tag: string) => string
  car: (id: string) => Creds
  /** Who publishes to a car: fleet's commander service account; anyone on Mosquitto. */
  publisher: (tag: string) => Creds
  commands: (id: string) => string
  status: (id: string) => string
  telemetry: (id: string) => string
  telemetryPayload: (id: string, seq: number) => string
  /** Where a car's will ends up. */
  watchStatus: (id: string) => Promise<Watch>
  /** Where a car's telemetry ends up (fleet: Kafka, User Properties as headers; Mosquitto: a
   *  subscriber, MQTT 5 if asked so that it sees User Properties). */
  watchTelemetry: (id: string, opts?: { mqtt5?: boolean }) => Promise<Watch>
  wildcardFilters: (id: string) => string[]
  /** A topic the car may not subscribe to, and that the publisher may publish to. */
  forbiddenSubscription: (id: string) => string
  /** A topic the car may not publish to, and where a message would end up if it were let through. */
  forbiddenPublication: (id: string) => { topic: string, watch: () => Promise<Watch> }
}

export interface MqttConnection {
  client: MqttClient
  received: Received[]
  sessionPresent: boolean
  /** MQTT 5: the CONNACK's properties. */
  connackProperties: Record<string, unknown>
  /** Resolves when the connection closed (by either side). */
  closed: Promise<void>
}

/** An mqtt.js MQTT 3.1.1 connection; messages are collected from the first byte after CONNACK. */
export function connectMqtt (port: number, creds: Creds, opts: Partial<IClientOptions> = {}): Promise<MqttConnection> {
  const client = mqtt.connect(`mqtt://127.0.0.1:${creds.port ?? port}`, {
    clientId: creds.clientId,
    ...(creds.username === undefined ? {} : { username: creds.username }),
    ...(creds.password === undefined ? {} : { password: creds.password }),
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: 5_000,
    ...opts
  })
  const received: Received[] = []
  client.on('message', (topic, payload, packet) => {
    const props = packet.properties?.userProperties
    const userProperties = props === undefined ? undefined : Object.fromEntries(Object.entries(props).map(([k, v]) => [k, String(v)]))
    const expiry = packet.properties?.messageExpiryInterval
    received.push({ topic, payload, qos: packet.qos, retain: packet.retain, ...(userProperties === undefined ? {} : { userProperties }), ...(expiry === undefined ? {} : { messageExpiryInterval: expiry }) })
  })
  const closed = new Promise<void>(resolve => client.once('close', () => resolve()))
  return new Promise((resolve, reject) => {
    client.once('connect', connack => {
      // later errors (a reset after the broker closed us) are the scenario's to observe, not to throw
      client.on('error', () => {})
      resolve({ client, received, sessionPresent: connack.sessionPresent, connackProperties: (connack.properties ?? {}) as Record<string, unknown>, closed })
    })
    client.once('error', err => { client.end(true); reject(err) })
    void closed.then(() => reject(new Error('connection closed before CONNACK')))
  })
}

/** The SUBACK return codes (0x80 = refused); mqtt.js turns a 0x80 into an error carrying them. */
export async function subscribe (client: MqttClient, topic: string, qos: 0 | 1 | 2): Promise<number> {
  const granted = await client.subscribeAsync(topic, { qos }).then(
    grants => grants.map(g => g.qos),
    (err: { packet?: { granted?: number[] } }) => {
      if (err.packet?.granted === undefined) throw err
      return err.packet.granted
    })
  return granted[0]!
}

/** Ends a client's stored session: connect with a clean session, then DISCONNECT. */
export async function dropSession (t: Target, creds: Creds): Promise<void> {
  const c = await connectMqtt(t.port, creds, { clean: true })
  await c.client.endAsync()
}

async function mqttWatch (port: number, creds: Creds, topic: string, protocolVersion: 4 | 5 = 4): Promise<Watch> {
  const c = await connectMqtt(port, creds, { protocolVersion })
  const granted = await subscribe(c.client, topic, 2)
  if (granted !== 2) throw new Error(`watcher of ${topic} granted ${granted}`)
  return watchOf(c.received, topic, () => c.client.endAsync())
}

export interface Started { target: Target, stop: () => Promise<void> }

let n = 0
const next = () => (++n).toString(36)
// one car clock for the run, so a scenario can compare what arrived with what it sent
const runTs = Date.now()
const telemetryPayload = (id: string, seq: number) => JSON.stringify(validTelemetry(id, seq, undefined, runTs + seq))

/** The publisher role on fleet: an in-memory aedes whose PUBLISHes go into fleet's aedes in-process. */
async function startPublisherRelay (tb: TestBroker): Promise<{ port: number, stop: () => Promise<void> }> {
  const forward = (packet: PublishPacket, done: (err?: Error) => void) => {
    // an MQTT 5 publisher's properties (Message Expiry Interval …) travel on; its topic alias is its own
    const { topicAlias, ...properties } = packet.properties ?? {}
    tb.broker.engine.publish({ cmd: 'publish', topic: packet.topic, payload: packet.payload, qos: packet.qos, retain: false, dup: false, properties } as PublishPacket, done)
  }
  const relay = await Aedes.createBroker({
    // QoS 0/1: before the relay's PUBACK; QoS 2: once, at the PUBREL, before its PUBCOMP
    authorizePublish: (client, packet, cb) => packet.qos === 2 || client === null ? cb(null) : forward(packet, err => cb(err ?? null)),
    published: (packet, client, cb) => packet.qos === 2 && client !== null ? forward(packet, () => cb()) : cb()
  })
  const server = createServer(relay.handle)
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    stop: async () => {
      await new Promise<void>(resolve => relay.close(() => resolve()))
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  }
}

/** fleet's broker in this process, persistence and routing as deployed (Redis), Kafka ingest. */
export async function startFleetTarget (): Promise<Started> {
  const prefix = uniqueFleetPrefix('conf')
  const [tb, telemetry] = await Promise.all([
    startTestBroker({ FLEET_MQTT_WS_PORT: '-1' }),
    collect(KafkaTopics.telemetry, key => key.startsWith(prefix))
  ]) as [TestBroker, Collector]
  // one collector for the run; each watch keeps a cursor over all records and keeps its car's
  const kafkaWatch = (id: string): Watch => {
    const received: Received[] = []
    let cursor = telemetry.records.length
    const scan = setInterval(() => {
      for (; cursor < telemetry.records.length; cursor++) {
        const r = telemetry.records[cursor]!
        if (r.key !== id) continue
        const headers = Object.fromEntries(Object.entries(r.headers ?? {}).map(([k, v]) => [k, String(v)]))
        received.push({ topic: `kafka:${KafkaTopics.telemetry}`, payload: r.value, qos: -1, retain: false, ...(Object.keys(headers).length === 0 ? {} : { userProperties: headers }) })
      }
    }, 10)
    return watchOf(received, `Kafka ${KafkaTopics.telemetry} key ${id}`, async () => { clearInterval(scan) })
  }
  const carPool = Array.from({ length: CAR_POOL }, (_, i) => `${prefix}-car${i}`)
  const pool = await carPasswords(carPool)
  const relay = await startPublisherRelay(tb)
  const target: Target = {
    name: 'fleet',
    label: 'fleet',
    port: tb.mqttPort,
    // cars are provisioned ahead (credentials live in Redis; these callbacks are synchronous)
    newCarId: () => {
      const id = carPool.shift()
      if (id === undefined) throw new Error('conformance: car pool exhausted; raise CAR_POOL')
      return id
    },
    car: id => ({ clientId: id, username: id, password: pool.get(id)! }),
    publisher: tag => ({ clientId: `${prefix}-pub-${tag}-${next()}`, port: relay.port }),
    commands: MqttTopics.commands,
    status: MqttTopics.status,
    telemetry: MqttTopics.telemetry,
    telemetryPayload,
    // No client may subscribe to a car's status topic: what the broker publishes there (a will)
    // is observed where it happens, in the broker.
    async watchStatus (id) {
      const topic = MqttTopics.status(id)
      const received: Received[] = []
      const onPublish = (packet: { topic: string, payload: Buffer | string, qos: number, retain: boolean }) => {
        if (packet.topic === topic) received.push({ topic, payload: Buffer.from(packet.payload), qos: packet.qos, retain: packet.retain })
      }
      tb.broker.engine.onPublish(onPublish as never)
      return watchOf(received, `broker publish of ${topic}`, async () => { tb.broker.engine.offPublish(onPublish as never) })
    },
    watchTelemetry: async id => kafkaWatch(id),
    wildcardFilters: id => ['vehicles/+/commands', `vehicles/${id}/#`],
    forbiddenSubscription: id => MqttTopics.commands(`${id}-other`),
    forbiddenPublication: id => ({ topic: MqttTopics.telemetry(`${id}-other`), watch: async () => kafkaWatch(`${id}-other`) })
  }
  return { target, stop: async () => { await relay.stop(); await telemetry.stop(); await tb.stop() } }
}

export function mosquittoVersion (): string {
  const out = spawnSync(MOSQUITTO_BIN, ['-h'], { encoding: 'utf8' })
  const m = `${out.stdout ?? ''}${out.stderr ?? ''}`.match(/mosquitto version (\S+)/)
  if (m === null) throw new Error(`${MOSQUITTO_BIN} -h printed no version (is Debian's mosquitto installed? scripts/setup.sh installs it): ${out.error?.message ?? ''}`)
  return m[1]!
}

/**
 * Mosquitto with its own defaults, anonymous, no persistence, and an ACL file only so that refusals
 * can be exercised: vehicles/# is open, readonly/# may only be read, writeonly/# only written.
 */
export async function startMosquittoTarget (): Promise<Started> {
  const version = mosquittoVersion()
  const dir = mkdtempSync(join(tmpdir(), 'fleet-conformance-'))
  chmodSync(dir, 0o755) // started as root, Mosquitto reads its ACL file as the mosquitto user
  const acl = join(dir, 'acl')
  writeFileSync(acl, 'pattern readwrite vehicles/#\npattern read readonly/#\npattern write writeonly/#\n', { mode: 0o644 })
  const m: MosquittoProcess = await startMosquitto([`acl_file ${acl}`])
  const run = uniqueFleetPrefix('conf')
  const target: Target = {
    name: 'mosquitto',
    label: `Mosquitto ${version}`,
    port: m.port,
    newCarId: tag => `${run}-${tag}-${next()}`,
    car: id => ({ clientId: id }),
    publisher: tag => ({ clientId: `${run}-pub-${tag}-${next()}` }),
    commands: MqttTopics.commands,
    status: MqttTopics.status,
    telemetry: MqttTopics.telemetry,
    telemetryPayload,
    watchStatus: id => mqttWatch(m.port, { clientId: `${run}-watch-${next()}` }, MqttTopics.status(id)),
    watchTelemetry: (id, opts) => mqttWatch(m.port, { clientId: `${run}-watch-${next()}` }, MqttTopics.telemetry(id), opts?.mqtt5 === true ? 5 : 4),
    wildcardFilters: id => ['vehicles/+/commands', `vehicles/${id}/#`],
    forbiddenSubscription: id => `writeonly/${id}`,
    forbiddenPublication: id => ({ topic: `readonly/${id}`, watch: () => mqttWatch(m.port, { clientId: `${run}-watch-${next()}` }, `readonly/${id}`) })
  }
  return { target, stop: () => m.stop() }
}
