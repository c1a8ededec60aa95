// PUBACKs fleet writes itself (telemetry-intake.ts): those of one Kafka batch for one car leave in
// one socket write, on the next turn of the event loop, in the order they were queued.
import { pubackCode, writePubacks, type Client } from './mqtt-engine/index.js'

/** Returns queue(client, messageId, reason = 0): the PUBACK goes out with the car's next write. */
export function createPubackBatch (): (client: Client, messageId: number, reason?: number) => void {
  // a car's one PUBACK as a number, its second makes a list: at one message per car per
  // interval (the soak's shape) most cars have one per Kafka batch
  let acks = new Map<Client, number | number[]>()
  const flushAcks = () => {
    const due = acks
    acks = new Map()
    for (const [client, codes] of due) writePubacks(client, codes)
  }
  return (client, messageId, reason = 0) => {
    if (acks.size === 0) setImmediate(flushAcks)
    const code = pubackCode(messageId, reason)
    const codes = acks.get(client)
    if (codes === undefined) acks.set(client, code)
    else if (typeof codes === 'number') acks.set(client, [codes, code])
    else codes.push(code)
  }
}
