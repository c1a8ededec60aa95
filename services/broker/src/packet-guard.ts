// Bounds what one connection can make the broker buffer. aedes' parser (mqtt-packet) accumulates
// a packet until it is complete, whatever its announced length (up to 256 MiB); this guard closes
// the connection as soon as the unparsed bytes of one connection exceed the limit.
import type { Client } from 'aedes'

interface ParserInternals { parse: (buf: Buffer) => number, _list: { length: number } }

export class PacketTooLargeError extends Error {
  readonly code = 'PACKET_TOO_LARGE'
  constructor (limit: number) { super(`MQTT packet larger than ${limit} bytes`) }
}

export function guardPacketSize (client: Client, maxPacketBytes: number, onRefuse: () => void): void {
  const parser = (client as unknown as { _parser: ParserInternals })._parser
  const parse = parser.parse.bind(parser)
  parser.parse = (buf: Buffer) => {
    const left = parse(buf)
    // What stays in the list after parsing is the start of one incomplete packet.
    if (parser._list.length > maxPacketBytes && !client.conn.destroyed) {
      onRefuse()
      client.conn.destroy(new PacketTooLargeError(maxPacketBytes))
    }
    return left
  }
}
