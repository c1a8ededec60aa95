// A raw MQTT 3.1.1 (or 5) connection (mqtt-packet over a TCP socket) for what mqtt.js refuses to send:
// protocol violations, hand-built packets, garbage.
import { connect, type Socket } from 'node:net'
import mqttPacket, { type Packet } from 'mqtt-packet'

export interface RawConnection {
  socket: Socket
  packets: Packet[]
  send: (packet: Packet | Buffer) => void
  next: (cmd: string, timeoutMs?: number) => Promise<Packet>
  closed: Promise<void>
  isClosed: () => boolean
  /** Runs `listener` on each packet as it is parsed (before `next` sees it). */
  onPacket: (listener: (packet: Packet) => void) => void
}

export async function rawConnect (port: number, protocolVersion: 4 | 5 = 4): Promise<RawConnection> {
  const socket = connect({ host: '127.0.0.1', port })
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
  socket.on('error', () => {})
  const parser = mqttPacket.parser({ protocolVersion })
  const packets: Packet[] = []
  let closed = false
  parser.on('packet', p => packets.push(p))
  socket.on('data', d => parser.parse(d))
  const closedP = new Promise<void>(resolve => socket.once('close', () => { closed = true; resolve() }))
  return {
    socket,
    packets,
    send: p => { socket.write(Buffer.isBuffer(p) ? p : mqttPacket.generate(p, { protocolVersion })) },
    async next (cmd, timeoutMs = 5_000) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const i = packets.findIndex(p => p.cmd === cmd)
        if (i >= 0) return packets.splice(i, 1)[0]!
        if (closed) throw new Error(`connection closed before a ${cmd}`)
        if (Date.now() > deadline) throw new Error(`no ${cmd} within ${timeoutMs} ms`)
        await new Promise(resolve => setTimeout(resolve, 10))
      }
    },
    closed: closedP,
    isClosed: () => closed,
    onPacket: listener => { parser.on('packet', listener) }
  }
}

/** CONNECT bytes; with clean=false and an empty client id, built by hand (mqtt-packet won't). */
export function connectPacket (clientId: string, username?: string, password?: string, clean = true): Buffer {
  const bytes = mqttPacket.generate(connectObject({ clientId, ...(username === undefined ? {} : { username }), ...(password === undefined ? {} : { password }) }))
  if (!clean) {
    let i = 1
    while ((bytes[i]! & 0x80) !== 0) i++ // skip the variable-length "remaining length"
    bytes[i + 1 + 6 + 1]! &= ~0x02 // protocol name (6 bytes), level (1), then the flags byte
  }
  return bytes
}

export interface ConnectOptions {
  clientId: string
  username?: string
  password?: string
  /** default true */
  clean?: boolean
  /** seconds, default 30 */
  keepalive?: number
  will?: { topic: string, payload: string, qos: 0 | 1 | 2 }
  /** MQTT 5 CONNECT properties */
  properties?: Record<string, unknown>
}

/** A CONNECT packet for rawConnect(port, protocolVersion).send (MQTT 3.1.1 unless told). */
export function connectObject (o: ConnectOptions, protocolVersion: 4 | 5 = 4): Packet {
  return {
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion,
    clean: o.clean ?? true,
    clientId: o.clientId,
    keepalive: o.keepalive ?? 30,
    ...(o.username === undefined ? {} : { username: o.username }),
    ...(o.password === undefined ? {} : { password: Buffer.from(o.password) }),
    ...(o.will === undefined ? {} : { will: { topic: o.will.topic, payload: Buffer.from(o.will.payload), qos: o.will.qos, retain: false } }),
    ...(o.properties === undefined ? {} : { properties: o.properties })
  } as Packet
}

/** An MQTT 5 CONNECT for rawConnect(port, 5).send. */
export const connect5 = (o: ConnectOptions): Packet => connectObject(o, 5)
