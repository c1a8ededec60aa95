// Schemas of the command routes (the request and record schemas themselves are shared:
// services/shared/src/command-schema.ts).
import { Type } from '@sinclair/typebox'
import { CommandRecordSchema } from '../../../shared/src/command-schema.js'
import { VehicleIdSchema } from './common.js'

export const CommandRecord = CommandRecordSchema

export const CommandParamsSchema = Type.Object({
  vehicleId: VehicleIdSchema,
  commandId: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._-]+$' })
})

export const CreateHeadersSchema = Type.Object({
  'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 200, pattern: '^[\\x21-\\x7e]+$', description: 'a retry with the same key and body returns the first command instead of sending another (24 h)' }))
})

export const WaitQuerySchema = Type.Object({
  waitSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 300, description: 'long-poll: answer when the command is final or after this many seconds' }))
})

export const ListQuerySchema = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
  before: Type.Optional(Type.Integer({ minimum: 0, description: 'paging: nextBefore of the previous page' }))
})

export const CommandListSchema = Type.Object({
  items: Type.Array(CommandRecordSchema),
  nextBefore: Type.Union([Type.Integer(), Type.Null()], { description: 'pass as ?before= for the next page; null on the last page' })
})
