// The Kafka records of what cars send: a telemetry message as is (its MQTT 5 User Properties as
// headers), or, when it cannot be used, its DLQ record with the reason (logged, counted, and kept
// in the car's list of recent refusals).
import type { Logger } from '../../shared/src/logger.js'
import { isPlainTelemetry } from '../../shared/src/telemetry-decode.js'
import { parseTelemetry } from '../../shared/src/telemetry-schema.js'
import { KafkaTopics, MqttTopics } from '../../shared/src/topics.js'
import type { BrokerMetrics } from './broker-metrics.js'
import type { IngestRecord } from './kafka-ingest.js'
import type { RejectionLog } from './rejection-log.js'
import { userPropertyHeaders, type UserProperties } from './user-properties.js'

/** How much of a refused payload the DLQ record keeps. */
const DLQ_PAYLOAD_BYTES = 4_096

export interface IngestRecordOptions {
  maxTelemetryBytes: number
  brokerId: string
  metrics: BrokerMetrics
  log: Logger
  rejections?: Pick<RejectionLog, 'add'>
}

export function createIngestRecords (opts: IngestRecordOptions) {
  const { metrics, log } = opts
  /** The Kafka record of a car's telemetry: itself if valid (its User Properties as headers),
   *  else its DLQ record (logged, counted). `idBytes`: telemetryIdBytes(vehicleId), so that what
   *  cars send is checked in one pass over its bytes; parseTelemetry decides the rest (and gives
   *  the DLQ reason). */
  function telemetryRecord (vehicleId: string, idBytes: Uint8Array | null, payload: Buffer, receivedAt: number, props?: UserProperties): IngestRecord {
    if (idBytes === null || payload.byteLength > opts.maxTelemetryBytes || !isPlainTelemetry(payload, idBytes)) {
      const parsed = parseTelemetry(payload, vehicleId, opts.maxTelemetryBytes)
      if (!parsed.ok) return dlqRecord(vehicleId, MqttTopics.telemetry(vehicleId), payload, parsed, receivedAt)
    }
    const headers = userPropertyHeaders(props)
    if (!headers.ok) return dlqRecord(vehicleId, MqttTopics.telemetry(vehicleId), payload, headers, receivedAt)
    return { topic: KafkaTopics.telemetry, key: vehicleId, value: payload, timestamp: receivedAt, ...(headers.headers === undefined ? {} : { headers: headers.headers }) }
  }

  function dlqRecord (vehicleId: string, topic: string, payload: Buffer, refusal: { reason: string, detail: string }, receivedAt: number): IngestRecord {
    metrics.dlq.inc({ reason: refusal.reason })
    log.warn({ vehicleId, reason: refusal.reason, detail: refusal.detail }, 'invalid message sent to the DLQ')
    opts.rejections?.add(vehicleId, { topic, reason: refusal.reason, detail: refusal.detail, receivedAt })
    const record = {
      vehicleId,
      topic,
      reason: refusal.reason,
      detail: refusal.detail,
      receivedAt: new Date(receivedAt).toISOString(),
      brokerId: opts.brokerId,
      payloadBytes: payload.byteLength,
      payloadTruncated: payload.byteLength > DLQ_PAYLOAD_BYTES,
      payloadBase64: payload.subarray(0, DLQ_PAYLOAD_BYTES).toString('base64')
    }
    return {
      topic: KafkaTopics.telemetryDlq,
      key: vehicleId,
      value: Buffer.from(JSON.stringify(record)),
      timestamp: receivedAt,
      headers: { reason: refusal.reason }
    }
  }

  return { telemetryRecord, dlqRecord }
}
