// A car's recently refused messages and why (the broker keeps the list: shared/src/rejections.ts),
// so the owner of a car whose messages were PUBACKed yet never show up can find the reason
// without reading vehicle.telemetry.dlq. Reasons only; the payloads stay in the DLQ topic.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { Redis } from 'ioredis'
import { parseRejection, REJECTIONS_KEPT, REJECTIONS_TTL_S, rejectionsKey, type Rejection } from '../../../shared/src/rejections.js'
import { problems, VehicleParamsSchema } from '../schemas/common.js'

const RejectionSchema = Type.Object({
  at: Type.String({ format: 'date-time', description: 'when the broker received the message' }),
  topic: Type.String({ description: 'the MQTT topic it came on' }),
  reason: Type.String({ description: 'oversized, not_json, schema, vehicle_mismatch, or a command ack\'s reason' }),
  detail: Type.String({ description: 'what was wrong, e.g. the first schema error and its path' }),
  source: Type.String({ description: 'who refused it, broker:<id>' }),
  dropped: Type.Integer({ description: 'further refusals of this car not listed before the next entry (flood guard)' })
})

export const rejectionRoutes: FastifyPluginAsyncTypebox<{ redis: Pick<Redis, 'lrange'> }> = async (app, { redis }) => {
  app.get('/vehicles/:vehicleId/rejections', {
    schema: {
      tags: ['vehicles'],
      summary: 'Why the car\'s latest messages were refused, newest first',
      description: `A refused message is still PUBACKed (the broker has handled it) and goes to vehicle.telemetry.dlq with its payload. This lists the car's latest ${REJECTIONS_KEPT} refusals (time, topic, reason) for ${REJECTIONS_TTL_S / 86_400} days. Empty for a car with none.`,
      params: VehicleParamsSchema,
      querystring: Type.Object({ limit: Type.Integer({ minimum: 1, maximum: REJECTIONS_KEPT, default: REJECTIONS_KEPT }) }),
      response: { 200: Type.Object({ items: Type.Array(RejectionSchema) }), ...problems() }
    }
  }, async (request) => {
    const raw = await redis.lrange(rejectionsKey(request.params.vehicleId), 0, request.query.limit - 1)
    return { items: raw.map(parseRejection).filter((r): r is Rejection => r !== null) }
  })
}
