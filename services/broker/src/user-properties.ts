// An MQTT 5 car's User Properties on telemetry become the Kafka record's headers (e.g. W3C
// `traceparent`), so a trace or a tag the car sets follows its message. Bounded: what a car sends
// here is held with the record until Kafka has it, so past MAX_USER_PROPERTIES pairs or
// MAX_USER_PROPERTY_BYTES in all the message is refused (DLQ) instead; a repeated name keeps its
// values joined with ", " (as HTTP does), and names fleet sets itself are refused.

export const MAX_USER_PROPERTIES = 16
export const MAX_USER_PROPERTY_BYTES = 4_096
/** Header names fleet's own records use (the DLQ's reason). */
const RESERVED = new Set(['reason'])

export type UserProperties = Record<string, string | string[]> | undefined

export type HeadersResult = { ok: true, headers: Record<string, string> | undefined } | { ok: false, reason: 'user_properties', detail: string }

export function userPropertyHeaders (props: UserProperties): HeadersResult {
  if (props === undefined) return { ok: true, headers: undefined }
  const headers: Record<string, string> = {}
  let pairs = 0
  let bytes = 0
  for (const [name, value] of Object.entries(props)) {
    if (RESERVED.has(name)) return { ok: false, reason: 'user_properties', detail: `user property "${name}" is reserved` }
    const values = Array.isArray(value) ? value : [value]
    pairs += values.length
    for (const v of values) bytes += Buffer.byteLength(name) + Buffer.byteLength(v)
    if (pairs > MAX_USER_PROPERTIES) return { ok: false, reason: 'user_properties', detail: `more than ${MAX_USER_PROPERTIES} user properties` }
    if (bytes > MAX_USER_PROPERTY_BYTES) return { ok: false, reason: 'user_properties', detail: `user properties larger than ${MAX_USER_PROPERTY_BYTES} bytes` }
    headers[name] = values.join(', ')
  }
  return { ok: true, headers: pairs === 0 ? undefined : headers }
}
