// The commander's QoS 1 commands, routed before their PUBACK (telemetry-intake.ts hands them here).
import type { Logger } from '../../shared/src/logger.js'
import type { BrokerMetrics } from './broker-metrics.js'
import { commandExpirySeconds } from './command-relay.js'
import { holdAck, publishRouted, type Client, type PublishPacket } from './mqtt-engine/index.js'

export interface CommandRoute {
  /** Routes a copy of the commander's QoS 1 command; its PUBACK follows once the copy is routed. */
  route: (client: Client, packet: PublishPacket) => void
  /** True for the commander's packets whose copy was routed: the packet itself goes nowhere. */
  isRerouted: (packet: PublishPacket) => boolean
}

export function createCommandRoute (opts: { queueAck: (client: Client, messageId: number) => void, metrics: BrokerMetrics, log: Logger }): CommandRoute {
  const { queueAck, metrics, log } = opts
  /**
   * QoS 1 commands are routed before their PUBACK. aedes writes a QoS 1 PUBACK first and routes
   * (and queues for an offline car) after, so the commander would mark a command `sent` that a
   * broker killed in between never queued, or that reached an offline car's queue just after the
   * car came back and drained it. Here the command is published as a copy and the commander's
   * packet turned into a QoS 0 one that goes nowhere (isRerouted); the PUBACK is written once
   * aedes has routed the copy and stored it for offline sessions, in the order the PUBLISHes came
   * [MQTT-4.6.0-2]. If that fails the commander's connection is closed without the PUBACK, and
   * mqtt.js sends the command again on its next connection.
   */
  const rerouted = new WeakSet<PublishPacket>()
  const commandAcks = new WeakMap<Client, Array<{ messageId: number, done: boolean }>>()
  function route (client: Client, packet: PublishPacket) {
    // a queued command expires in the session: its TTL, or the publisher's own Message Expiry
    // Interval if shorter [MQTT-3.3.2-5]
    const expiries = [commandExpirySeconds(packet, Date.now()), packet.properties?.messageExpiryInterval].filter((s): s is number => s !== undefined && s > 0)
    const expiry = expiries.length === 0 ? undefined : Math.min(...expiries)
    const routed = { cmd: 'publish', topic: packet.topic, payload: packet.payload, qos: 1, retain: false, dup: false, ...(expiry === undefined ? {} : { properties: { messageExpiryInterval: expiry } }) } as PublishPacket
    const entry = { messageId: holdAck(packet), done: false }
    rerouted.add(packet)
    let queue = commandAcks.get(client)
    if (queue === undefined) commandAcks.set(client, queue = [])
    queue.push(entry)
    const q = queue
    publishRouted(client, routed, err => {
      if (err) {
        metrics.commands.inc({ event: 'route_failed' })
        log.warn({ err: err.message, topic: routed.topic }, 'command not routed: closing the commander\'s connection without its PUBACK')
        q.length = 0
        client.conn.destroy()
        return
      }
      entry.done = true
      while (q.length > 0 && q[0]!.done) queueAck(client, q.shift()!.messageId)
    })
  }

  return { route, isRerouted: packet => rerouted.has(packet) }
}
