// A car's recent scored history, kept by the scorer for the dashboard's car page ("why is this
// car flagged"), bounded three ways: at most one point per FLEET_SCORER_HISTORY_EVERY_MS, at most
// FLEET_SCORER_HISTORY_LENGTH points (plus a few between trims), and a TTL.
//
//   fleet:history:{vehicleId}   list, newest first; each entry a JSON array
//       [ts, score, rowScore, ...HISTORY_SIGNALS values, top?]
//     ts        the car clock of the message (ms since epoch)
//     score     smoothed score; rowScore that message's own
//     signals   the values of HISTORY_SIGNALS, in that order: the signals the failure modes move
//               plus speed and rpm for context (tyre pressure as the lowest of the four)
//     top       only on anomalous points: the features carrying the score, [[name, share], ...]
import type { Telemetry } from './telemetry-schema.js'

export const carHistoryKey = (vehicleId: string) => `fleet:history:${vehicleId}`

export const HISTORY_SIGNALS = ['speedMps', 'rpm', 'coolantTempC', 'engineVibrationMv', 'batteryVoltageMv', 'currentDrawA', 'intakeAirFlowGs', 'tirePressureMinPsi'] as const
export type HistorySignal = typeof HISTORY_SIGNALS[number]

export interface HistoryPoint {
  ts: number
  score: number
  rowScore: number
  signals: Record<HistorySignal, number>
  topFeatures: Array<{ feature: string, share: number }> | null
}

/** One entry, as the scorer writes it (kept small: a few hundred of them per car). */
export function encodeHistoryPoint (t: Telemetry, score: number, rowScore: number, top: Array<{ feature: string, share: number }> | null): string {
  const row: unknown[] = [
    t.ts, score, rowScore, t.speedMps, t.rpm, t.coolantTempC, t.engineVibrationMv, t.batteryVoltageMv, t.currentDrawA, t.intakeAirFlowGs,
    Math.min(t.tirePressureFlPsi, t.tirePressureFrPsi, t.tirePressureRlPsi, t.tirePressureRrPsi)
  ]
  if (top !== null) row.push(top.map(f => [f.feature, f.share]))
  return JSON.stringify(row)
}

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v)

/** An entry read back; null for anything not in this layout (never throws). */
export function decodeHistoryPoint (raw: string): HistoryPoint | null {
  let row: unknown
  try {
    row = JSON.parse(raw)
  } catch {
    return null
  }
  const n = 3 + HISTORY_SIGNALS.length
  if (!Array.isArray(row) || row.length < n || row.length > n + 1) return null
  for (let i = 0; i < n; i++) if (!isNum(row[i])) return null
  const signals = Object.fromEntries(HISTORY_SIGNALS.map((s, i) => [s, row[3 + i]])) as Record<HistorySignal, number>
  let topFeatures: HistoryPoint['topFeatures'] = null
  if (row.length === n + 1) {
    const top = row[n]
    if (!Array.isArray(top) || !top.every(f => Array.isArray(f) && typeof f[0] === 'string' && isNum(f[1]))) return null
    topFeatures = (top as Array<[string, number]>).map(([feature, share]) => ({ feature, share }))
  }
  return { ts: row[0], score: row[1], rowScore: row[2], signals, topFeatures }
}
