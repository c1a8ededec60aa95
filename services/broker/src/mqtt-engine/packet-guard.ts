// Bounds what one connection can make the broker buffer, and what its parser keeps. aedes' parser
// (mqtt-packet) accumulates a packet until it is complete, whatever its announced length (up to
// 256 MiB); the guard closes the connection as soon as the unparsed bytes of one connection exceed
// the limit. Parked cars are most of a fleet, so what each connection's parser holds counts too:
// - its byte list is a plain BufferList, not bl's BufferListStream (a full Duplex stream, two
//   stream states, their buffers and bound callbacks, of which the parser uses only the list
//   methods; one per connection in a heap snapshot of 3,000 idle cars);
// - after CONNECT it keeps only the two settings it reads later (protocolVersion, bridgeMode)
//   instead of the whole CONNECT packet, whose password Buffer kept the socket read's memory;
// - one parse function is shared by every connection (a per-connection closure and bind cost
//   about 200 B each).
// With a FastPublish, the same parse function first takes a connected car's telemetry PUBLISHes
// straight from the bytes (fast-publish.ts) and gives mqtt-packet only the rest. A frame split
// across reads waits in a per-connection stash (bounded by the limit) until it is complete.
// A car that is held (car-flow.ts: its window, its rate, the pod's budget) is not read: aedes
// counts a held packet in `_parsingBatch`, but its 'readable' listener also counts down on every
// arrival of data, so a car that kept sending while held was read again at its next packet; the
// listener is replaced by one that does nothing while the car is held (its release reads on).
// A connected MQTT 3.1.1 car's socket data goes straight to the parser when aedes would read it at
// once anyway (nothing buffered, no packet of the car under way, not held or paused): at one
// message per read — thousands of cars, one message each per interval — Node's readable-stream
// round per read (buffer the chunk, a 'readable' event on the next tick, read() it back out, a
// read-more tick) cost more than the fast path itself. Anything else takes the stream as before.
// A plain TCP car socket also reads into one buffer shared by all of them (what net.Socket's
// `onread` option does for a client socket, set on the accepted one through node:net's keys for
// it): without it every read mallocs a 64 KiB chunk, shrinks it and wraps it in an ArrayBuffer
// that the message's record then keeps alive until Kafka's ack. Each read is handled before the
// next, so what is kept of it is copied: a fast-path payload (one small pooled copy), the bytes
// left to mqtt-packet (which keeps views of them), and anything for the stream.
import type { Client } from 'aedes'
import { Socket } from 'node:net'
import { TLSSocket } from 'node:tls'
import { Readable } from 'node:stream'
import BufferListModule from 'bl/BufferList.js'
import { scanFrame, type FrameInfo } from './fast-publish.js'
import { MissingInternalError } from './internals.js'

// bl's BufferList.d.ts declares the constructor but does not export it.
const BufferList = BufferListModule as unknown as new () => { length: number }

interface ParserSettings { cmd?: string, protocolVersion?: number, bridgeMode?: boolean }
interface ParserInternals {
  parse: (buf: Buffer) => number
  _list: { length: number }
  _stateCounter: number
  settings: ParserSettings
  /** aedes sets this to the connection's Client. */
  client: Client
}

export class PacketTooLargeError extends Error {
  readonly code = 'PACKET_TOO_LARGE'
  constructor (limit: number) { super(`MQTT packet larger than ${limit} bytes`) }
}

const parserOf = (client: Client) => (client as unknown as { _parser: ParserInternals })._parser

/** aedes' read loop: a packet it handles counts in `_parsingBatch` until its callback, which is
 *  `_nextBatch`; the socket is read again when the count is back at 0. */
interface ClientInternals {
  connackSent: boolean
  _parser: ParserInternals
  /** Set by aedes' pause() (fleet's pauseReads at shutdown, a drain). */
  _paused?: boolean
  /** MQTT 5: an oversized frame is being refused; nothing more is to be parsed. */
  _rejectingPacketTooLarge: boolean
  _parsingBatch: number
  _nextBatch: () => void
  _keepaliveInterval: number
  _keepaliveTimer: { refresh: () => void } | null
}

/** Where the fast path hands a car's telemetry PUBLISH (telemetry-intake.ts). */
export interface FastPublish {
  /** The car this client is, or undefined (not a car: no fast path). */
  vehicleOf: (client: Client) => string | undefined
  /** The exact topic a car's PUBLISHes may take the fast path with. */
  topicOf: (vehicleId: string) => string
  /** Takes one PUBLISH; true if the car is at its window: `resume` runs once it is not. */
  take: (client: Client, vehicleId: string, qos: 0 | 1, messageId: number, payload: Buffer, resume: () => void) => boolean
  /** How many one read gave the fast path. */
  taken: (count: number) => void
}

/** Sets up one connection's parser; call it on aedes' new Client before aedes reads the stream. */
export type PacketGuard = (client: Client) => void

const CLIENT = Symbol('fleet.client')
type Conn = import('node:stream').Duplex & { [CLIENT]?: Client }

/** What a socket's push does without the bypass (net.Socket inherits it from Readable). */
const streamPush = Readable.prototype.push

/** node:net's keys of a socket that reads into its own buffer (`onread`), found on a socket made
 *  with that option; checkReadBufferInternals() says at start if they are gone. */
const onreadKeys = (() => {
  // @types/node knows onread only for net.connect, but net.Socket's constructor reads it
  const probe = new Socket({ onread: { buffer: Buffer.alloc(1), callback: () => true } } as ConstructorParameters<typeof Socket>[0])
  const key = (name: string) => Object.getOwnPropertySymbols(probe).find(k => k.description === name && probe[k as keyof Socket] !== null)
  probe.destroy()
  return { buffer: key('kBuffer'), callback: key('kBufferCb') }
})()

/** Throws if this Node's net.Socket no longer has the keys of its `onread` option (checked at start). */
export function checkReadBufferInternals (): void {
  if (onreadKeys.buffer === undefined || onreadKeys.callback === undefined) throw new MissingInternalError('net.Socket onread keys (kBuffer, kBufferCb)')
}

/** The buffer every plain TCP car socket reads into, and its memory (to tell a view of it). */
const readBuffer = Buffer.allocUnsafe(64 * 1024)
const readMemory = readBuffer.buffer
const isShared = (buf: Buffer) => buf.buffer === readMemory

export function createPacketGuard (maxPacketBytes: number, onRefuse: (client: Client) => void, fast?: FastPublish, isHeld?: (client: Client) => boolean): PacketGuard {
  /** aedes' 'readable' listener, unless the car is held (one function for every connection). */
  function onReadable (this: Conn) {
    const client = this[CLIENT]!
    if (isHeld!(client)) return
    ;(client as unknown as ClientInternals)._nextBatch()
  }
  /** A car socket's push (node:net calls it with each read): the parser's, when aedes would
   *  read the chunk at once anyway; the stream's otherwise (and for the end of the stream). */
  function pushDirect (this: Conn, chunk: unknown, encoding?: BufferEncoding): boolean {
    if (chunk === null || !Buffer.isBuffer(chunk) || !direct(this)) return streamPush.call(this, chunk, encoding)
    ;(this[CLIENT]! as unknown as ClientInternals)._parser.parse(chunk)
    return true
  }
  /** Whether the car's data may go straight to its parser now. */
  function direct (conn: Conn): boolean {
    const client = conn[CLIENT]!
    const c = client as unknown as ClientInternals
    if (conn.readableLength !== 0 || c._parsingBatch !== 0 || !c.connackSent || c._paused === true ||
      c._rejectingPacketTooLarge || conn.destroyed || isHeld!(client)) return false
    // MQTT 5 connections keep aedes' read loop: it checks the declared length after each parse
    const version = c._parser.settings.protocolVersion
    return version === 4 || version === 3
  }
  /** A plain TCP car socket's read, in readBuffer (node:net calls it instead of push; false
   *  stops reading, as push's false does). */
  function onRead (this: Conn, nread: number, buf: Buffer): boolean {
    if (direct(this)) {
      ;(this[CLIENT]! as unknown as ClientInternals)._parser.parse(buf.subarray(0, nread))
      return true
    }
    return streamPush.call(this, Buffer.from(buf.subarray(0, nread)))
  }
  let parse: ((this: ParserInternals, buf: Buffer) => number) | null = null
  /** The start of a frame the fast path waits to complete, per connection (rarely any). */
  const stashes = new WeakMap<Client, Buffer>()
  const frame: FrameInfo = { qos: 0, messageId: 0, payloadStart: 0, end: 0 }

  /** Takes the car's telemetry frames at the start of `buf`; returns what is left for mqtt-packet. */
  function takeFast (parser: ParserInternals, buf: Buffer): Buffer | null {
    const client = parser.client
    const stash = stashes.get(client)
    if (stash !== undefined) {
      stashes.delete(client)
      buf = Buffer.concat([stash, buf])
    }
    const c = client as unknown as ClientInternals
    const version = parser.settings.protocolVersion
    if (parser._stateCounter !== 0 || parser._list.length !== 0 || !c.connackSent || (version !== 4 && version !== 3)) return buf
    const vehicleId = fast!.vehicleOf(client)
    if (vehicleId === undefined) return buf
    const topic = Buffer.from(fast!.topicOf(vehicleId)) // one per read, not per message
    let off = 0
    let taken = 0
    while (off < buf.length) {
      const found = scanFrame(buf, off, topic, maxPacketBytes, frame)
      if (found === 'other') break
      if (found === 'incomplete') {
        stashes.set(client, Buffer.from(buf.subarray(off))) // a copy: not the whole read's memory
        off = buf.length
        break
      }
      const { end } = frame
      const payload = buf.subarray(frame.payloadStart, end)
      if (fast!.take(client, vehicleId, frame.qos, frame.messageId, isShared(buf) ? Buffer.from(payload) : payload, () => process.nextTick(c._nextBatch))) {
        // held like aedes holds a packet it handles: the socket is read again once it is resumed
        c._parsingBatch++
      }
      taken++
      off = end
    }
    if (taken > 0) {
      if (c._keepaliveInterval > 0) c._keepaliveTimer?.refresh()
      fast!.taken(taken)
    }
    return off === buf.length ? null : off === 0 ? buf : buf.subarray(off)
  }

  function guardedParse (this: ParserInternals, buf: Buffer): number {
    if (fast !== undefined) {
      const rest = takeFast(this, buf)
      if (rest === null) return 0
      buf = rest
    }
    // mqtt-packet keeps views of what it is given (an incomplete packet, a payload)
    const left = parse!.call(this, isShared(buf) ? Buffer.from(buf) : buf)
    // What stays in the list after parsing is the start of one incomplete packet. A connected
    // MQTT 5 client is left to aedes' own check of the declared length, which tells it why
    // (DISCONNECT 0x95 [MQTT-3.2.2-15]) and stops reading it; it runs right after this parse.
    const v5 = this.settings.protocolVersion === 5 && (this.client as unknown as ClientInternals).connackSent
    if (this._list.length > maxPacketBytes && !v5 && !this.client.conn.destroyed) {
      onRefuse(this.client)
      this.client.conn.destroy(new PacketTooLargeError(maxPacketBytes))
    }
    const settings = this.settings
    if (settings.cmd === 'connect') this.settings = { protocolVersion: settings.protocolVersion, bridgeMode: settings.bridgeMode }
    return left
  }
  return client => {
    const parser = parserOf(client)
    parse ??= Object.getPrototypeOf(parser).parse as (this: ParserInternals, buf: Buffer) => number
    if (parser._list.length === 0) parser._list = new BufferList()
    parser.parse = guardedParse
    if (isHeld !== undefined) {
      const conn = client.conn as Conn
      conn[CLIENT] = client
      conn.removeListener('readable', (client as unknown as ClientInternals)._nextBatch)
      conn.on('readable', onReadable)
      if (fast !== undefined && conn instanceof Socket) {
        conn.push = pushDirect
        const handle = (conn as unknown as { _handle?: { useUserBuffer?: (b: Buffer) => void } })._handle
        if (!(conn instanceof TLSSocket) && handle?.useUserBuffer !== undefined && onreadKeys.buffer !== undefined && onreadKeys.callback !== undefined) {
          const keyed = conn as unknown as Record<symbol, unknown>
          keyed[onreadKeys.buffer] = readBuffer
          keyed[onreadKeys.callback] = onRead
          handle.useUserBuffer(readBuffer)
        }
      }
    }
  }
}
