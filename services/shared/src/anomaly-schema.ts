// What the scorer produces: vehicle.anomalies (every message scored above the model's threshold)
// and vehicle.scores (every scored message, optional), both keyed by vehicleId. Written once here;
// the api and tests read it.
import { Type, type Static } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import './typebox-formats.js'
import { FAILURE_MODES } from './vehicle-model.js'

export const FailureModeSchema = Type.Union(FAILURE_MODES.map(m => Type.Literal(m)))

export const ScoreSchema = Type.Object({
  vehicleId: Type.String(),
  seq: Type.Integer({ description: 'the scored message\'s per-car sequence number' }),
  ts: Type.Integer({ description: 'the scored message\'s car clock, ms since epoch' }),
  scoredAt: Type.String({ format: 'date-time' }),
  score: Type.Number({ description: 'smoothed anomaly score per car; anomalous when above threshold' }),
  rowScore: Type.Number({ description: 'score of this message alone' }),
  threshold: Type.Number(),
  anomalous: Type.Boolean(),
  modelVersion: Type.String()
})
export type Score = Static<typeof ScoreSchema>

export const AnomalySchema = Type.Object({
  ...ScoreSchema.properties,
  anomalous: Type.Literal(true),
  topFeatures: Type.Array(Type.Object({
    feature: Type.String({ description: 'model feature: a telemetry field, or field~30s for its moving average' }),
    share: Type.Number({ minimum: 0, maximum: 1, description: 'part of the score this feature carries' })
  })),
  failureModeGuess: Type.Union([FailureModeSchema, Type.Null()], { description: 'the failure whose signals carry most of the score' }),
  source: Type.Object({ partition: Type.Integer(), offset: Type.String() }, { description: 'where the scored message is in vehicle.telemetry' })
})
export type Anomaly = Static<typeof AnomalySchema>

export const checkAnomaly = TypeCompiler.Compile(AnomalySchema)
export const checkScore = TypeCompiler.Compile(ScoreSchema)
