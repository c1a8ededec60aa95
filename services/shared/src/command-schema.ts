// Cloud-to-car commands: what an operator asks, what travels to the car on
// vehicles/{id}/commands, what the car answers on vehicles/{id}/commands/ack, and the lifecycle
// events on Kafka vehicle.command-events. Written once here; every service reads it.
import { Type, type Static } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import './typebox-formats.js'

const NoParams = Type.Object({}, { additionalProperties: false })

const params = <T extends import('@sinclair/typebox').TProperties>(props: T) => Type.Object(props, { additionalProperties: false })

/** Each command type and its parameters: the variants of CommandRequestSchema. */
export const COMMAND_VARIANTS = [
  Type.Object({ type: Type.Literal('lock'), params: Type.Optional(NoParams) }, { additionalProperties: false, title: 'lock' }),
  Type.Object({ type: Type.Literal('unlock'), params: Type.Optional(NoParams) }, { additionalProperties: false, title: 'unlock' }),
  Type.Object({
    type: Type.Literal('flash-lights'),
    params: Type.Optional(params({ times: Type.Integer({ minimum: 1, maximum: 20, default: 3 }) }))
  }, { additionalProperties: false, title: 'flash-lights' }),
  Type.Object({
    type: Type.Literal('request-diagnostics'),
    params: Type.Optional(params({ reason: Type.String({ maxLength: 200 }) }))
  }, { additionalProperties: false, title: 'request-diagnostics' }),
  Type.Object({
    type: Type.Literal('set-telemetry-interval'),
    params: params({ intervalMs: Type.Integer({ minimum: 1_000, maximum: 3_600_000 }) })
  }, { additionalProperties: false, title: 'set-telemetry-interval' }),
  Type.Object({
    type: Type.Literal('ota-update'),
    // The car downloads the image over https and installs it only if its SHA-256 matches: a
    // record read from Kafka or a proxy on the way cannot swap the image.
    params: params({
      version: Type.String({ pattern: '^\\d+\\.\\d+\\.\\d+([-+][0-9A-Za-z.-]+)?$', maxLength: 64 }),
      url: Type.String({ format: 'uri', pattern: '^https://[^/?#\\s]+/', maxLength: 2_048, description: 'https URL of the image' }),
      sha256: Type.String({ pattern: '^[0-9a-f]{64}$', description: 'SHA-256 of the image, 64 lowercase hex digits' })
    })
  }, { additionalProperties: false, title: 'ota-update' })
] as const

/** Each command type with its own parameters (validated per type). */
export const CommandRequestSchema = Type.Union([...COMMAND_VARIANTS])

export type CommandRequest = Static<typeof CommandRequestSchema>
export type CommandType = CommandRequest['type']
export const COMMAND_TYPES = COMMAND_VARIANTS.map(v => v.properties.type.const) as CommandType[]

/** Longest and shortest time a command may wait for its car (ttlSeconds of a request). */
export const COMMAND_TTL_LIMITS_S = { min: 5, max: 7 * 24 * 3600 } as const
const TtlSeconds = Type.Integer({ minimum: COMMAND_TTL_LIMITS_S.min, maximum: COMMAND_TTL_LIMITS_S.max, description: 'seconds the command may wait for its car; after that it expires and is not delivered' })

/**
 * A request as an operator sends it over HTTP: one of the variants plus an optional ttlSeconds.
 * A JSON Schema oneOf with a discriminator on `type`, so a validator reports the errors of the
 * variant the request names (not of every variant) and OpenAPI shows the choice.
 */
export const CommandCreateSchema = Type.Unsafe<CommandRequest & { ttlSeconds?: number }>({
  // ajv's discriminator passes anything that is not an object; the type keeps arrays and scalars out.
  type: 'object',
  required: ['type'],
  oneOf: COMMAND_VARIANTS.map(v => Type.Object({ ...v.properties, ttlSeconds: Type.Optional(TtlSeconds) }, { additionalProperties: false, title: v.title })),
  discriminator: { propertyName: 'type' }
})

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

/** One step of a command's history as the api shows it. */
export const CommandStepSchema = Type.Object({
  status: Type.Union(COMMAND_STATUSES.map(s => Type.Literal(s))),
  at: Type.String({ format: 'date-time' }),
  source: Type.String(),
  detail: Type.Optional(Type.String())
})
export type CommandStep = Static<typeof CommandStepSchema>

/** A command's record (kept in Redis by services/shared/src/command-store.ts, shown by the api). */
export const CommandRecordSchema = Type.Object({
  commandId: Type.String(),
  vehicleId: Type.String(),
  type: Type.String(),
  params: Type.Record(Type.String(), Type.Unknown()),
  status: Type.Union(COMMAND_STATUSES.map(s => Type.Literal(s))),
  createdAt: Type.String({ format: 'date-time' }),
  expiresAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
  requestedBy: Type.String({ description: 'operator key name, JWT subject or rule:<name>' }),
  detail: Type.Optional(Type.String({ description: 'the last reason given (car, broker or commander)' })),
  history: Type.Array(CommandStepSchema, { description: 'every lifecycle step seen (late ones too), in lifecycle order' })
})
export type CommandRecord = Static<typeof CommandRecordSchema>

export const checkCommandAck = TypeCompiler.Compile(CommandAckSchema)
export const checkCommand = TypeCompiler.Compile(CommandSchema)
export const checkCommandEvent = TypeCompiler.Compile(CommandEventSchema)
