// A vehicle.telemetry.dlq record: why a message was refused, by whom, and its first bytes. The
// fields match what the broker writes (services/broker/src/telemetry-intake.ts), plus `source`.

/** How much of a refused payload a DLQ record keeps. */
export const DLQ_PAYLOAD_BYTES = 4_096

export interface DlqRecord {
  vehicleId: string
  /** Where the message came from: an MQTT topic (broker) or a Kafka topic (scorer). */
  topic: string
  reason: string
  detail: string
  receivedAt: string
  /** Who refused it, e.g. scorer:<group>. */
  source: string
  payloadBytes: number
  payloadTruncated: boolean
  payloadBase64: string
}

export function dlqRecord (r: { vehicleId: string, topic: string, reason: string, detail: string, receivedAt: number, source: string, payload: Uint8Array | null }): DlqRecord {
  const payload = Buffer.from(r.payload ?? new Uint8Array(0))
  return {
    vehicleId: r.vehicleId,
    topic: r.topic,
    reason: r.reason,
    detail: r.detail,
    receivedAt: new Date(r.receivedAt).toISOString(),
    source: r.source,
    payloadBytes: payload.byteLength,
    payloadTruncated: payload.byteLength > DLQ_PAYLOAD_BYTES,
    payloadBase64: payload.subarray(0, DLQ_PAYLOAD_BYTES).toString('base64')
  }
}
