// A lean MQTT 3.1.1 car connection for large simulated fleets (FLEET_SIM_CLIENT=lean): one socket,
// one mqtt-packet parser, QoS 1 publish with a PUBACK callback, one subscription, keepalive and
// reconnect across servers — the part of mqtt.js's client a car needs, without its per-client
// stores, timers and stream machinery, so one load process drives more cars per core. It offers
// the subset of MqttClient the simulator uses (connect/close/error/message events, publish,
// subscribe, end), so the car logic is the same with either client.
import { EventEmitter } from 'node:events'
import { connect as netConnect, type Socket } from 'node:net'
import mqttPacket from 'mqtt-packet'

export interface LeanServer { host: string, port: number }

export interface LeanClientOptions {
  servers: LeanServer[]
  clientId: string
  username: string
  password: string
  clean: boolean
  keepalive: number
  reconnectPeriod: number
  connectTimeout: number
}

type Callback = (err?: Error) => void

/** Resolves to `Error` with the CONNACK return code, like mqtt.js's `code`. */
class ConnackError extends Error {
  constructor (readonly code: number) { super(`connection refused: CONNACK ${code}`) }
}

export class LeanClient extends EventEmitter {
  connected = false
  private socket: Socket | null = null
  private parser = this.newParser()
  private nextId = 1
  private readonly inflight = new Map<number, Callback>()
  private server = 0
  private ending = false
  private reconnectTimer: NodeJS.Timeout | null = null
  private lastSent = 0
  private pinger: NodeJS.Timeout | null = null

  constructor (private readonly opts: LeanClientOptions) {
    super()
    this.open()
  }

  /** A parser per connection: one that broke on a bad packet never sees the next connection's bytes. */
  private newParser () {
    const parser = mqttPacket.parser({ protocolVersion: 4 })
    parser.on('packet', p => this.onPacket(p))
    parser.on('error', err => this.socket?.destroy(err))
    return parser
  }

  private open (): void {
    const target = this.opts.servers[this.server % this.opts.servers.length]!
    const s = netConnect({ host: target.host, port: target.port })
    this.socket = s
    s.setNoDelay(true)
    s.setTimeout(this.opts.connectTimeout, () => s.destroy(new Error('connect timeout')))
    s.once('connect', () => {
      this.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: this.opts.clean, clientId: this.opts.clientId, keepalive: this.opts.keepalive, username: this.opts.username, password: Buffer.from(this.opts.password) })
    })
    s.on('data', d => this.parser.parse(d))
    s.on('error', err => this.emit('error', err))
    s.once('close', () => this.onClose(s))
  }

  private onClose (s: Socket): void {
    if (this.socket !== s) return
    this.socket = null
    this.parser = this.newParser()
    const wasConnected = this.connected
    this.connected = false
    if (this.pinger !== null) clearInterval(this.pinger)
    this.pinger = null
    // PUBLISHes without a PUBACK are failed, like mqtt.js with a clean client store: the car's
    // logic counts them and sends fresh telemetry after the reconnect.
    const pending = [...this.inflight.values()]
    this.inflight.clear()
    for (const cb of pending) cb(new Error('connection closed'))
    this.emit('close')
    if (wasConnected) this.emit('offline')
    if (this.ending) return
    this.server++
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null
      if (!this.ending) this.open()
    }, this.opts.reconnectPeriod)
  }

  private send (packet: object): void {
    const s = this.socket
    if (s === null || s.destroyed) return
    this.lastSent = Date.now()
    s.write(mqttPacket.generate(packet as never))
  }

  private onPacket (p: mqttPacket.Packet): void {
    switch (p.cmd) {
      case 'connack': {
        const rc = (p as mqttPacket.IConnackPacket).returnCode ?? 0
        if (rc !== 0) {
          this.emit('error', new ConnackError(rc))
          this.socket?.destroy()
          return
        }
        this.socket?.setTimeout(0)
        this.connected = true
        if (this.opts.keepalive > 0) {
          const everyMs = this.opts.keepalive * 1_000
          this.pinger = setInterval(() => {
            if (Date.now() - this.lastSent >= everyMs / 2) this.send({ cmd: 'pingreq' })
          }, everyMs / 2)
        }
        this.emit('connect', p)
        return
      }
      case 'puback': {
        const id = (p as mqttPacket.IPubackPacket).messageId!
        const cb = this.inflight.get(id)
        this.inflight.delete(id)
        cb?.()
        return
      }
      case 'publish': {
        const pub = p as mqttPacket.IPublishPacket
        if (pub.qos === 1) this.send({ cmd: 'puback', messageId: pub.messageId })
        this.emit('message', pub.topic, pub.payload as Buffer, pub)
        break
      }
      default:
        // suback, pingresp: nothing to do
    }
  }

  publish (topic: string, payload: string | Buffer, opts: { qos: 0 | 1 }, cb?: Callback): this {
    if (!this.connected) {
      cb?.(new Error('not connected'))
      return this
    }
    if (opts.qos === 0) {
      this.send({ cmd: 'publish', topic, payload, qos: 0, retain: false, dup: false })
      if (cb) process.nextTick(cb)
      return this
    }
    let id = this.nextId
    // a packet id is free again once its PUBACK came; skip the ones still in flight
    for (let tries = 0; this.inflight.has(id) && tries < 65_535; tries++) id = id % 65_535 + 1
    this.nextId = id % 65_535 + 1
    this.inflight.set(id, cb ?? (() => {}))
    this.send({ cmd: 'publish', topic, payload, qos: 1, messageId: id, retain: false, dup: false })
    return this
  }

  subscribe (topic: string, opts: { qos: 0 | 1 }): this {
    const id = this.nextId
    this.nextId = id % 65_535 + 1
    this.send({ cmd: 'subscribe', messageId: id, subscriptions: [{ topic, qos: opts.qos }] })
    return this
  }

  /** Graceful: waits (bounded) for PUBACKs in flight, sends DISCONNECT; `force` closes at once. */
  end (force = false, cb?: () => void): this {
    this.ending = true
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer)
    const s = this.socket
    if (s === null) {
      if (cb) process.nextTick(cb)
      return this
    }
    const close = () => {
      this.send({ cmd: 'disconnect' })
      s.end()
      s.once('close', () => cb?.())
    }
    if (force || this.inflight.size === 0) {
      if (force) { s.destroy(); if (cb) process.nextTick(cb) } else close()
      return this
    }
    const deadline = Date.now() + 5_000
    const wait = setInterval(() => {
      if (this.inflight.size === 0 || Date.now() > deadline) {
        clearInterval(wait)
        close()
      }
    }, 50)
    return this
  }

  endAsync (): Promise<void> {
    return new Promise(resolve => this.end(false, resolve))
  }
}
