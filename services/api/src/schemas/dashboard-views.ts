// Schemas of the routes behind the dashboard's map and car page.
import { Type } from '@sinclair/typebox'
import { HISTORY_SIGNALS } from '../../../shared/src/car-history.js'

const Nullable = <T extends import('@sinclair/typebox').TSchema>(t: T) => Type.Union([t, Type.Null()])

export const PositionsQuerySchema = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 5_000, default: 2_000, description: 'at most this many cars, riskiest first' })
})

export const PositionsSchema = Type.Object({
  items: Type.Array(Type.Object({
    vehicleId: Type.String(),
    lat: Type.Number(),
    lon: Type.Number(),
    online: Type.Boolean(),
    anomalous: Type.Boolean(),
    score: Nullable(Type.Number()),
    failureMode: Nullable(Type.String()),
    seenAt: Nullable(Type.String({ format: 'date-time', description: 'when the position was scored' }))
  })),
  scored: Type.Integer({ description: 'cars with a score (items holds at most limit of them)' })
})

export const HistoryQuerySchema = Type.Object({
  points: Type.Integer({ minimum: 1, maximum: 1_000, default: 180, description: 'the latest this many points (the scorer keeps FLEET_SCORER_HISTORY_LENGTH)' })
})

const TopFeatures = Type.Array(Type.Object({ feature: Type.String(), share: Type.Number() }))

export const HistorySchema = Type.Object({
  vehicleId: Type.String(),
  threshold: Nullable(Type.Number({ description: 'the model threshold: anomalous = score > threshold' })),
  signals: Type.Array(Type.String(), { description: `the signals of each point: ${HISTORY_SIGNALS.join(', ')} (tirePressureMinPsi: the lowest of the four tyres)` }),
  points: Type.Array(Type.Object({
    ts: Type.Integer({ description: 'car clock, ms since epoch' }),
    score: Type.Number({ description: 'smoothed anomaly score' }),
    rowScore: Type.Number(),
    signals: Type.Record(Type.String(), Type.Number()),
    topFeatures: Nullable(TopFeatures)
  }), { description: 'oldest first, one per FLEET_SCORER_HISTORY_EVERY_MS of car time' }),
  features: TopFeatures
})
