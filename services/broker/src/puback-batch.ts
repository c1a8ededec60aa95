// PUBACKs fleet writes itself (telemetry-intake.ts): those of one Kafka batch for one car leave in
// one socket write, on the next turn of the event loop, in the order they were queued.
import { pubackCode, writePubacks, type Client } from './mqtt-engine/index.js'

/** Returns queue(client, messageId, reason = 0): the PUBACK goes out with the car's next write. */
export function createPubackBatch (): (client: Client, messageId: number, reason?: number) => void {
  let acks = new Map<Client, number[]>()
  const flushAcks = () => {
    const due = acks
    acks = new Map()
    for (const [client, codes] of due) writePubacks(client, codes)
  }
  return (client, messageId, reason = 0) => {
    if (acks.size === 0) setImmediate(flushAcks)
    const code = pubackCode(messageId, reason)
    const codes = acks.get(client)
    if (codes === undefined) acks.set(client, [code])
    else codes.push(code)
  }
}
