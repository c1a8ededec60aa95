// Reads the one packet a fleet sends most — a car's QoS 0/1 PUBLISH to its own telemetry topic —
// straight from the socket's bytes (MQTT 3.1.1 §3.3). The general path builds an mqtt-packet
// Packet and runs it through aedes' handler chain only to end at the same intake; a profile of the
// broker under load gave that path (parser, its byte list, aedes' dispatch) about a seventh of the
// broker's CPU. Anything else, or anything unexpected, is left to mqtt-packet, which reports
// errors as before: a frame is taken here only if it is complete, well formed and exactly
// PUBLISH (QoS 0 or 1, DUP allowed on QoS 1, no RETAIN) to `topic`.

export type Frame = 'take' | 'incomplete' | 'other'

/** What scanFrame found (one object, reused: no allocation per frame). */
export interface FrameInfo {
  qos: 0 | 1
  messageId: number
  payloadStart: number
  end: number
}

/**
 * Looks at the frame starting at `off`. 'take': a publish to `topic` that fills `out`; 'incomplete':
 * the start of one whose bytes (at most `maxBytes` in all) are not all here yet; 'other': anything
 * else, for mqtt-packet.
 */
export function scanFrame (buf: Buffer, off: number, topic: Buffer, maxBytes: number, out: FrameInfo): Frame {
  const b0 = buf[off]!
  let qos: 0 | 1
  if (b0 === 0x30) qos = 0
  else if (b0 === 0x32 || b0 === 0x3a) qos = 1
  else return 'other'
  // remaining length: 1 to 4 bytes, 7 bits each
  let len = 0
  let p = off + 1
  for (let i = 0; ; i++) {
    if (p >= buf.length) return 'incomplete'
    const b = buf[p++]!
    len += (b & 0x7f) * 128 ** i
    if ((b & 0x80) === 0) break
    if (i === 3) return 'other' // malformed: mqtt-packet says so
  }
  const end = p + len
  if (end - off > maxBytes) return 'other' // the packet guard's limit applies
  if (end > buf.length) return 'incomplete'
  const topicLength = topic.length
  if (p + 2 + topicLength + (qos === 1 ? 2 : 0) > end) return 'other'
  if (buf.readUInt16BE(p) !== topicLength || buf.compare(topic, 0, topicLength, p + 2, p + 2 + topicLength) !== 0) return 'other'
  p += 2 + topicLength
  let messageId = 0
  if (qos === 1) {
    messageId = buf.readUInt16BE(p)
    if (messageId === 0) return 'other'
    p += 2
  }
  out.qos = qos
  out.messageId = messageId
  out.payloadStart = p
  out.end = end
  return 'take'
}
