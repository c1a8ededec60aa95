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
import type { Client } from 'aedes'
import BufferListModule from 'bl/BufferList.js'

// bl's BufferList.d.ts declares the constructor but does not export it.
const BufferList = BufferListModule as unknown as new () => { length: number }

interface ParserSettings { cmd?: string, protocolVersion?: number, bridgeMode?: boolean }
interface ParserInternals {
  parse: (buf: Buffer) => number
  _list: { length: number }
  settings: ParserSettings
  /** aedes sets this to the connection's Client. */
  client: Client
}

export class PacketTooLargeError extends Error {
  readonly code = 'PACKET_TOO_LARGE'
  constructor (limit: number) { super(`MQTT packet larger than ${limit} bytes`) }
}

const parserOf = (client: Client) => (client as unknown as { _parser: ParserInternals })._parser

/** Sets up one connection's parser; call it on aedes' new Client before aedes reads the stream. */
export type PacketGuard = (client: Client) => void

export function createPacketGuard (maxPacketBytes: number, onRefuse: (client: Client) => void): PacketGuard {
  let parse: ((this: ParserInternals, buf: Buffer) => number) | null = null
  function guardedParse (this: ParserInternals, buf: Buffer): number {
    const left = parse!.call(this, buf)
    // What stays in the list after parsing is the start of one incomplete packet.
    if (this._list.length > maxPacketBytes && !this.client.conn.destroyed) {
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
  }
}
