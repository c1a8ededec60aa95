// A car's QoS 2 PUBLISH into Kafka: aedes keeps its own handshake, its PUBREC held until Kafka
// acknowledged the record; a resend before the PUBREL [MQTT-4.3.3-2] is not written again.
import type { BrokerMetrics } from './broker-metrics.js'
import type { CarFlow } from './car-flow.js'
import type { IngestRecord, IngestSink } from './kafka-ingest.js'
import type { Client, PublishPacket } from './mqtt-engine/index.js'

export interface Qos2IngestOptions {
  sink: IngestSink
  flow: Pick<CarFlow, 'pace'>
  metrics: BrokerMetrics
  /** Whether this packet id was received before and still awaits its PUBREL (aedes' store). */
  qos2Received?: (client: Client, packet: PublishPacket) => Promise<boolean>
}

export function createQos2Ingest (opts: Qos2IngestOptions) {
  // QoS 2 packet ids of each client whose Kafka write is under way.
  const qos2Writing = new WeakMap<Client, Set<number>>()
  const qos2Received = opts.qos2Received ?? (async () => false)
  const { sink, flow, metrics } = opts

  return function ingestQos2 (client: Client, packet: PublishPacket, record: IngestRecord, callback: (err?: Error | null) => void): void {
    // QoS 2 keeps aedes' own flow: its PUBREC waits for Kafka by holding the callback. A PUBLISH
    // re-sent (DUP) before the PUBREL is answered by aedes with a PUBREC only [MQTT-4.3.3-2]; this
    // runs before aedes' check, so it asks the same store, else Kafka would get the message twice.
    const id = packet.messageId!
    let writing = qos2Writing.get(client)
    if (writing === undefined) qos2Writing.set(client, writing = new Set())
    const w = writing
    if (w.has(id)) {
      callback(null)
      return
    }
    const done = (err: Error | null) => flow.pace(client, Date.now(), () => callback(err))
    w.add(id)
    qos2Received(client, packet).then(seen => {
      if (seen) {
        w.delete(id)
        metrics.qos2Resends.inc()
        done(null)
        return
      }
      sink.write(record, err => {
        w.delete(id)
        done(err ?? null)
      })
    }, () => {
      // the store could not say: at least once, never lost
      sink.write(record, err => {
        w.delete(id)
        done(err ?? null)
      })
    })
  }
}
