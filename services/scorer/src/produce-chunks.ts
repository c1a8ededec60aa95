// Splits what one micro-batch produces into requests the broker accepts. Kafka refuses a record
// batch larger than the topic's max.message.bytes (MESSAGE_TOO_LARGE, not retriable), and a
// catch-up batch of 17,000 rows makes far more than 1 MB of anomalies: each request here stays
// under a byte budget and a record count, in order, so per-key order is kept when sent one by one.
import type { Message, TopicMessages } from 'kafkajs'

export interface ChunkLimits {
  /** Most record bytes (as estimated by recordBytes) in one request. */
  maxBytes: number
  /** Most records in one request. */
  maxRecords: number
}

/** A record's size in a v2 record batch, at most: length, attributes, timestamp and offset deltas, key and value lengths are varints of at most 5 or 10 bytes. */
const RECORD_OVERHEAD = 40
const HEADER_OVERHEAD = 10
/** A record batch's own header (61 bytes) and the request's per-topic and per-partition framing. */
export const REQUEST_OVERHEAD = 1_024

const size = (v: Message['key'] | string | Buffer | null | undefined) => v === null || v === undefined ? 0 : typeof v === 'string' ? Buffer.byteLength(v) : v.byteLength

/** An upper bound of what `m` adds to a request. */
export function recordBytes (m: Message): number {
  let n = RECORD_OVERHEAD + size(m.key) + size(m.value)
  if (m.headers !== undefined) {
    for (const [k, v] of Object.entries(m.headers)) {
      const values = Array.isArray(v) ? v : [v]
      for (const one of values) n += HEADER_OVERHEAD + Buffer.byteLength(k) + size(one as string | Buffer | undefined)
    }
  }
  return n
}

/**
 * The requests to send, in order, each under `limits`. A record larger than the byte budget on its
 * own goes alone in its request (the broker then refuses that one; nothing the scorer writes is
 * that large: DLQ records keep at most 4 KB of the payload).
 */
export function chunkTopicMessages (topicMessages: TopicMessages[], limits: ChunkLimits): TopicMessages[][] {
  const requests: TopicMessages[][] = []
  let current: TopicMessages[] = []
  let bytes = 0
  let records = 0
  const close = () => {
    if (records > 0) requests.push(current)
    current = []
    bytes = 0
    records = 0
  }
  for (const { topic, messages } of topicMessages) {
    let into: Message[] | null = null
    for (const m of messages) {
      const n = recordBytes(m)
      if (records > 0 && (bytes + n > limits.maxBytes || records + 1 > limits.maxRecords)) {
        close()
        into = null
      }
      if (into === null) {
        into = []
        current.push({ topic, messages: into })
      }
      into.push(m)
      bytes += n
      records++
    }
  }
  close()
  return requests
}
