// Cars: the list (paged, filtered), one car in detail, anomalies (fleet-wide or per car), and the
// fleet summary.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { ApiContext } from '../context.js'
import { decodeCursor } from '../fleet-reader.js'
import { badRequest, notFound } from '../problem.js'
import { problems, VehicleParamsSchema } from '../schemas/common.js'
import { AnomalyListQuerySchema, AnomalyListSchema, FleetSummarySchema, VehicleDetailSchema, VehicleListQuerySchema, VehicleListSchema } from '../schemas/vehicles.js'

export const vehicleRoutes: FastifyPluginAsyncTypebox<{ ctx: ApiContext }> = async (app, { ctx }) => {
  const { reader, feed, sampler, store } = ctx

  app.get('/vehicles', {
    schema: {
      tags: ['vehicles'],
      summary: 'Cars, paged',
      description: 'Every car the fleet knows (provisioned, ever connected, or scored) with its connection state and latest score. Filter by online / anomalous; page with nextCursor.',
      querystring: VehicleListQuerySchema,
      response: { 200: VehicleListSchema, ...problems() }
    }
  }, async (request) => {
    const { cursor, ...q } = request.query
    if (cursor !== undefined && decodeCursor(cursor) === null) throw badRequest('cursor is not one this api gave out')
    return reader.list({ ...q, ...(cursor === undefined ? {} : { cursor }) })
  })

  app.get('/vehicles/:vehicleId', {
    schema: {
      tags: ['vehicles'],
      summary: 'One car: connection, latest telemetry and score, recent anomalies and commands',
      params: VehicleParamsSchema,
      response: { 200: VehicleDetailSchema, ...problems(404) }
    }
  }, async (request) => {
    const { vehicleId } = request.params
    const detail = await reader.detail(vehicleId)
    if (detail === null) throw notFound(`vehicle ${vehicleId} is not known`)
    const commands = await store.listForVehicle(vehicleId, { limit: 5 })
    return { ...detail, recentCommands: commands.items.map(c => ({ commandId: c.commandId, type: c.type, status: c.status, createdAt: c.createdAt })) }
  })

  app.get('/anomalies', {
    schema: {
      tags: ['anomalies'],
      summary: 'Recent anomalies, newest first',
      description: 'Fleet-wide from vehicle.anomalies (this process keeps the latest FLEET_API_ANOMALY_BUFFER); live ones arrive on /v1/stream.',
      querystring: AnomalyListQuerySchema,
      response: { 200: AnomalyListSchema, ...problems() }
    }
  }, async (request) => ({ items: feed.recent(request.query.limit, request.query.vehicleId) }))

  app.get('/fleet/summary', {
    schema: {
      tags: ['fleet'],
      summary: 'Fleet summary: cars online, messages/s, scores, anomalies, with recent history',
      response: { 200: FleetSummarySchema, ...problems() }
    }
  }, async () => ({ latest: sampler.latest(), history: sampler.history() }))
}
