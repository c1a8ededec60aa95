// Bounds what one connection can make the broker buffer. aedes' parser (mqtt-packet) accumulates
// a packet until it is complete, whatever its announced length (up to 256 MiB); this guard closes
// the connection as soon as the unparsed bytes of one connection exceed the limit. It also gives
// that parser a lighter byte list (usePlainParserList).
import type { Client } from 'aedes'
import BufferListModule from 'bl/BufferList.js'

// bl's BufferList.d.ts declares the constructor but does not export it.
const BufferList = BufferListModule as unknown as new () => { length: number }

interface ParserInternals { parse: (buf: Buffer) => number, _list: { length: number } }

export class PacketTooLargeError extends Error {
  readonly code = 'PACKET_TOO_LARGE'
  constructor (limit: number) { super(`MQTT packet larger than ${limit} bytes`) }
}

const parserOf = (client: Client) => (client as unknown as { _parser: ParserInternals })._parser

/**
 * mqtt-packet's parser makes its byte list with bl(), a BufferListStream: a full Duplex stream (two
 * stream states, their buffers and bound callbacks) of which it uses only the list methods
 * (append, consume, slice, read*). The heap snapshot of 3,000 idle cars showed one per connection;
 * this gives the parser a plain BufferList instead. Call it before aedes reads from the stream.
 */
export function usePlainParserList (client: Client): void {
  const parser = parserOf(client)
  if (parser._list.length === 0) parser._list = new BufferList()
}

export function guardPacketSize (client: Client, maxPacketBytes: number, onRefuse: () => void): void {
  const parser = parserOf(client)
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
