// Why a car's recent messages were refused, kept per car in Redis so an operator (and the car's
// owner) can find it without reading the DLQ topic. The broker writes it (rejection-log.ts), the
// api reads it (GET /v1/vehicles/{id}/rejections). Reasons only, never the payload: that stays in
// vehicle.telemetry.dlq.
//
//   fleet:rejections:{vehicleId}   list, newest first, of the car's latest REJECTIONS_KEPT refusals
//                                  (JSON Rejection); expires REJECTIONS_TTL_S after the last one

export const rejectionsKey = (vehicleId: string) => `fleet:rejections:${vehicleId}`
export const REJECTIONS_KEPT = 20
export const REJECTIONS_TTL_S = 7 * 24 * 3_600
/** A refusal's detail is a parser's message; longer ones are cut. */
export const REJECTION_DETAIL_CHARS = 300

export interface Rejection {
  /** When the broker received the message (ISO 8601). */
  at: string
  /** The MQTT topic it came on. */
  topic: string
  reason: string
  detail: string
  /** Who refused it, e.g. broker:<id>. */
  source: string
  /** How many more refusals of this car the writer dropped before this one (flood guard). */
  dropped: number
}

/** Reads a list entry back; null for anything that is not one. */
export function parseRejection (raw: string): Rejection | null {
  try {
    const r = JSON.parse(raw) as Partial<Rejection>
    if (typeof r.at !== 'string' || typeof r.topic !== 'string' || typeof r.reason !== 'string' || typeof r.detail !== 'string' || typeof r.source !== 'string') return null
    return { at: r.at, topic: r.topic, reason: r.reason, detail: r.detail, source: r.source, dropped: typeof r.dropped === 'number' ? r.dropped : 0 }
  } catch {
    return null
  }
}
