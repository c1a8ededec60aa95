// Schemas of the vehicle, anomaly and fleet routes.
import { Type } from '@sinclair/typebox'
import { AnomalySchema } from '../../../shared/src/anomaly-schema.js'

const Nullable = <T extends import('@sinclair/typebox').TSchema>(t: T) => Type.Union([t, Type.Null()])

export const VehicleSummarySchema = Type.Object({
  vehicleId: Type.String(),
  online: Type.Boolean({ description: 'connected to a broker pod now' }),
  connectedSince: Nullable(Type.String({ format: 'date-time' })),
  provisioned: Type.Boolean(),
  revoked: Type.Boolean(),
  lastSeenAt: Nullable(Type.String({ format: 'date-time', description: 'latest scored message, else the latest connect/disconnect' })),
  score: Nullable(Type.Number({ description: 'smoothed anomaly score of the latest message' })),
  threshold: Nullable(Type.Number()),
  anomalous: Type.Boolean(),
  failureMode: Nullable(Type.String({ description: 'likely failure while anomalous' }))
})

export const VehicleDetailSchema = Type.Object({
  ...VehicleSummarySchema.properties,
  brokerId: Nullable(Type.String()),
  provisionedAt: Nullable(Type.String()),
  revokedAt: Nullable(Type.String()),
  telemetry: Nullable(Type.Record(Type.String(), Type.Unknown(), { description: 'the latest message as the car sent it' })),
  seq: Nullable(Type.Integer()),
  rowScore: Nullable(Type.Number()),
  modelVersion: Nullable(Type.String()),
  scoredAt: Nullable(Type.String()),
  recentAnomalies: Type.Array(AnomalySchema),
  recentCommands: Type.Array(Type.Object({ commandId: Type.String(), type: Type.String(), status: Type.String(), createdAt: Type.String() }))
})

export const VehicleListQuerySchema = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
  cursor: Type.Optional(Type.String({ maxLength: 200, pattern: '^[A-Za-z0-9_-]+$', description: 'nextCursor of the previous page' })),
  online: Type.Optional(Type.Boolean()),
  anomalous: Type.Optional(Type.Boolean()),
  sort: Type.Union([Type.Literal('id'), Type.Literal('score')], { default: 'id', description: 'id: by vehicle id; score: riskiest first (scored cars only)' })
})

export const VehicleListSchema = Type.Object({
  items: Type.Array(VehicleSummarySchema),
  nextCursor: Nullable(Type.String())
})

export const AnomalyListQuerySchema = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
  vehicleId: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' }))
})

export const AnomalyListSchema = Type.Object({ items: Type.Array(AnomalySchema) })

export const FleetSampleSchema = Type.Object({
  at: Type.String({ format: 'date-time' }),
  vehicles: Type.Object({ known: Type.Integer(), online: Type.Integer(), anomalous: Type.Integer(), scored: Type.Integer() }),
  messagesPerSecond: Nullable(Type.Number({ description: 'car messages accepted per second, fleet-wide (growth of vehicle.telemetry)' })),
  scores: Type.Object({ p50: Nullable(Type.Number()), p95: Nullable(Type.Number()), max: Nullable(Type.Number()) }),
  anomalies: Type.Object({ lastMinute: Type.Integer(), lastHour: Type.Integer() }),
  commandsInFlight: Type.Integer({ description: 'commands not yet final' })
})

export const FleetSummarySchema = Type.Object({
  latest: Nullable(FleetSampleSchema),
  history: Type.Array(FleetSampleSchema, { description: 'the recent samples, oldest first' })
})
