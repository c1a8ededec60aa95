// Cloud-to-car commands: what an operator asks, what travels to the car on
// vehicles/{id}/commands, what the car answers on vehicles/{id}/commands/ack, and the lifecycle
// events on Kafka vehicle.command-events. Written once here; every service reads it.
import { Type, type Static } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import './typebox-formats.js'

const NoParams = Type.Object({}, { additionalProperties: false })

/** Each command type with its own parameters (validated per type). */
export const CommandRequestSchema = Type.Union([
  Type.Object({ type: Type.Literal('lock'), params: Type.Optional(NoParams) }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('unlock'), params: Type.Optional(NoParams) }, { additionalProperties: false }),
  Type.Object({
    type: Type.Literal('flash-lights'),
    params: Type.Optional(Type.Object({ times: Type.Integer({ minimum: 1, maximum: 20, default: 3 }) }, { additionalProperties: false }))
  }, { additionalProperties: false }),
  Type.Object({
    type: Type.Literal('request-diagnostics'),
    params: Type.Optional(Type.Object({ reason: Type.String({ maxLength: 200 }) }, { additionalProperties: false }))
  }, { additionalProperties: false }),
  Type.Object({
    type: Type.Literal('set-telemetry-interval'),
    params: Type.Object({ intervalMs: Type.Integer({ minimum: 1_000, maximum: 3_600_000 }) }, { additionalProperties: false })
  }, { additionalProperties: false }),
  Type.Object({
    type: Type.Literal('ota-update'),
    params: Type.Object({
      version: Type.String({ pattern: '^\\d+\\.\\d+\\.\\d+([-+][0-9A-Za-z.-]+)?$', maxLength: 64 }),
      url: Type.Optional(Type.String({ format: 'uri', maxLength: 2_048 }))
    }, { additionalProperties: false })
  }, { additionalProperties: false })
])

export type CommandRequest = Static<typeof CommandRequestSchema>
export type CommandType = CommandRequest['type']

export const COMMAND_STATUSES = ['pending', 'sent', 'delivered', 'acknowledged', 'rejected', 'failed', 'expired'] as const
export type CommandStatus = typeof COMMAND_STATUSES[number]
/** Statuses after which nothing changes. */
export const FINAL_STATUSES: ReadonlySet<CommandStatus> = new Set(['acknowledged', 'rejected', 'failed', 'expired'])

/** vehicle.commands value (key = vehicleId) and, minus vehicleId, the MQTT payload to the car. */
export const CommandSchema = Type.Object({
  commandId: Type.String({ minLength: 1, maxLength: 64 }),
  vehicleId: Type.String({ minLength: 1, maxLength: 64 }),
  type: Type.String(),
  params: Type.Record(Type.String(), Type.Unknown()),
  createdAt: Type.String({ format: 'date-time' }),
  expiresAt: Type.String({ format: 'date-time' })
})
export type Command = Static<typeof CommandSchema>

/** What the car publishes on vehicles/{id}/commands/ack. */
export const CommandAckSchema = Type.Object({
  commandId: Type.String({ minLength: 1, maxLength: 64 }),
  result: Type.Union([Type.Literal('ok'), Type.Literal('rejected'), Type.Literal('failed')]),
  detail: Type.Optional(Type.String({ maxLength: 500 }))
})
export type CommandAck = Static<typeof CommandAckSchema>

/** vehicle.command-events value (key = vehicleId): one lifecycle move. */
export const CommandEventSchema = Type.Object({
  commandId: Type.String(),
  vehicleId: Type.String(),
  status: Type.Union(COMMAND_STATUSES.map(s => Type.Literal(s))),
  at: Type.String({ format: 'date-time' }),
  source: Type.String({ description: 'who saw it: api, commander, broker:<id>' }),
  detail: Type.Optional(Type.String())
})
export type CommandEvent = Static<typeof CommandEventSchema>

export const checkCommandAck = TypeCompiler.Compile(CommandAckSchema)
export const checkCommand = TypeCompiler.Compile(CommandSchema)
export const checkCommandEvent = TypeCompiler.Compile(CommandEventSchema)
