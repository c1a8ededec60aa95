// What the dashboard's map and car page read: every scored car's position and state, and one
// car's recent scored history (signals, score, the features carrying it). Read role.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { HISTORY_SIGNALS } from '../../../shared/src/car-history.js'
import type { ApiContext } from '../context.js'
import { notFound } from '../problem.js'
import { problems, VehicleParamsSchema } from '../schemas/common.js'
import { HistoryQuerySchema, HistorySchema, PositionsQuerySchema, PositionsSchema } from '../schemas/dashboard-views.js'

export const dashboardViewRoutes: FastifyPluginAsyncTypebox<{ ctx: ApiContext }> = async (app, { ctx }) => {
  const { positions, history, reader } = ctx

  app.get('/fleet/positions', {
    schema: {
      tags: ['fleet'],
      summary: 'Where the cars are: each scored car\'s latest position, connection and anomaly state',
      description: 'From the latest telemetry the scorer keeps per car; riskiest cars first, at most limit.',
      querystring: PositionsQuerySchema,
      response: { 200: PositionsSchema, ...problems() }
    }
  }, async request => positions.list(request.query.limit))

  app.get('/vehicles/:vehicleId/history', {
    schema: {
      tags: ['vehicles'],
      summary: 'A car\'s recent scored history: signals, score and the features carrying it',
      description: 'What the scorer keeps (FLEET_SCORER_HISTORY_LENGTH points, one per FLEET_SCORER_HISTORY_EVERY_MS of car time); features: mean share of each feature over the anomalous points.',
      params: VehicleParamsSchema,
      querystring: HistoryQuerySchema,
      response: { 200: HistorySchema, ...problems(404) }
    }
  }, async request => {
    const { vehicleId } = request.params
    const h = await history.read(vehicleId, request.query.points)
    if (h.points.length === 0 && !await reader.exists(vehicleId)) throw notFound(`vehicle ${vehicleId} is not known`)
    return { vehicleId, threshold: h.threshold, signals: [...HISTORY_SIGNALS], points: h.points, features: h.features }
  })
}
