// Each car's latest telemetry and anomaly score, kept in Redis by the scorer and read by the api.
//
//   fleet:state:{vehicleId}       hash, one per car (expires when the car is silent for the TTL):
//       telemetry      the car's latest message, JSON exactly as the car sent it
//       seq, ts        its sequence number and car clock (ms since epoch)
//       score          smoothed anomaly score (what is compared with the threshold)
//       rowScore       the score of that message alone
//       threshold      the model's threshold; anomalous = score > threshold
//       anomalous      '1' or '0'
//       failureMode    the likely failure mode while anomalous, else ''
//       modelVersion   model that scored it
//       scoredAt       when the scorer wrote it (ISO 8601)
//       features       the scorer's per-car moving averages (opaque JSON, refreshed every 30 s
//                      or so), so whichever scorer pod gets the car's partition next continues
//                      where the last one stopped
//   fleet:scores                  sorted set: vehicleId → latest smoothed score (ZREVRANGE = riskiest cars)
//   fleet:anomalous               set of vehicle ids whose latest score is above the threshold
//   fleet:anomalies:{vehicleId}   list, newest first, of the car's latest ANOMALY_HISTORY anomalies
//                                 (JSON as produced to vehicle.anomalies)
import type { FailureMode } from './vehicle-model.js'

export const vehicleStateKey = (vehicleId: string) => `fleet:state:${vehicleId}`
export const vehicleAnomaliesKey = (vehicleId: string) => `fleet:anomalies:${vehicleId}`
export const SCORES_KEY = 'fleet:scores'
export const ANOMALOUS_KEY = 'fleet:anomalous'
export const ANOMALY_HISTORY = 50

export interface VehicleState {
  /** The latest message as sent (parse it with parseTelemetry if you need the fields). */
  telemetry: string
  seq: number
  ts: number
  score: number
  rowScore: number
  threshold: number
  anomalous: boolean
  failureMode: FailureMode | null
  modelVersion: string
  scoredAt: string
}

/** The hash fields the scorer writes (strings, as Redis stores them); `features` is extra. */
export function vehicleStateFields (s: VehicleState): Record<string, string> {
  return {
    telemetry: s.telemetry,
    seq: String(s.seq),
    ts: String(s.ts),
    score: String(s.score),
    rowScore: String(s.rowScore),
    threshold: String(s.threshold),
    anomalous: s.anomalous ? '1' : '0',
    failureMode: s.failureMode ?? '',
    modelVersion: s.modelVersion,
    scoredAt: s.scoredAt
  }
}

/** Reads a state hash back (HGETALL); null when the car has none. */
export function parseVehicleState (hash: Record<string, string>): VehicleState | null {
  if (hash.telemetry === undefined || hash.score === undefined) return null
  return {
    telemetry: hash.telemetry,
    seq: Number(hash.seq),
    ts: Number(hash.ts),
    score: Number(hash.score),
    rowScore: Number(hash.rowScore),
    threshold: Number(hash.threshold),
    anomalous: hash.anomalous === '1',
    failureMode: hash.failureMode === '' || hash.failureMode === undefined ? null : hash.failureMode as FailureMode,
    modelVersion: hash.modelVersion ?? '',
    scoredAt: hash.scoredAt ?? ''
  }
}
