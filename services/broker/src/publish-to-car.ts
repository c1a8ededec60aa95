// The one place the broker hands a cloud-to-car command to the MQTT engine: a QoS 1 PUBLISH to
// vehicles/{id}/commands whose callback runs once the engine has stored it for the car's persistent
// session and routed it through the emitter (for commands: Redis, so a car on another pod gets it
// too). MQTT 5 cars get its properties; for MQTT 3.1.1 cars the engine leaves them out.
import type { Command } from '../../shared/src/command-schema.js'
import { MqttTopics } from '../../shared/src/topics.js'
import type { MqttEngine, PublishPacket } from './mqtt-engine/index.js'

export type PublishToCar = (command: Command, done: (err?: Error) => void) => void

/** The PUBLISH that carries a stored command to its car. */
export function commandPacket (command: Command, now: number): PublishPacket {
  const leftS = Math.max(1, Math.ceil((Date.parse(command.expiresAt) - now) / 1000))
  return {
    cmd: 'publish',
    topic: MqttTopics.commands(command.vehicleId),
    payload: Buffer.from(JSON.stringify(command)),
    qos: 1,
    retain: false,
    dup: false,
    properties: {
      // [MQTT-3.3.2-5]: the server drops it from the session once this many seconds have passed
      messageExpiryInterval: leftS,
      // request/response [MQTT-4.10]: the car answers there, echoing the correlation data
      responseTopic: MqttTopics.commandAck(command.vehicleId),
      correlationData: Buffer.from(command.commandId)
    }
  } as PublishPacket
}

export function createPublishToCar (engine: Pick<MqttEngine, 'publish'>, now: () => number = Date.now): PublishToCar {
  return (command, done) => { engine.publish(commandPacket(command, now()), done) }
}
