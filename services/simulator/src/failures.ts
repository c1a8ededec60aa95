// Which simulated cars develop a failure, which one and when: so that `npm start` shows what the
// scorer is for within minutes instead of a fleet of healthy cars. Deterministic per car index
// (and seed), so a fleet split over simulator processes (FLEET_SIM_FIRST_CAR) plans the same cars.
import { seededRandom } from '../../shared/src/seeded-random.js'
import { FAILURE_MODES, type FailureMode, type FailureSpec } from '../../shared/src/vehicle-model.js'

/**
 * The default order puts the modes the model flags soonest first, so a small fleet (20 cars, 4
 * failing) shows its first anomalies early; maf_sensor_drift is the slowest to show (evaluate.json).
 */
export const DEFAULT_FAILURE_MODES: readonly FailureMode[] = ['battery_degradation', 'coolant_leak', 'tyre_slow_puncture', 'bearing_wear', 'maf_sensor_drift']

export interface FailurePlanOptions {
  seed: number
  /** Share of cars that fail, in percent. */
  failingPct: number
  modes: readonly FailureMode[]
  /** Onsets are spread over [0, onsetMaxS] seconds of driving. */
  onsetMaxS: number
  developS: number
}

/**
 * The failure of car `index`, or null for a healthy car. Failing cars are spread evenly over the
 * indexes (car i fails when ⌊(i+1)·p⌋ > ⌊i·p⌋), so any 100/p consecutive cars hold one, and the
 * failing cars take the modes in turn.
 */
export function failureOf (index: number, o: FailurePlanOptions): FailureSpec | null {
  const p = o.failingPct / 100
  if (p <= 0 || o.modes.length === 0) return null
  const before = Math.floor(index * p + 1e-9)
  if (Math.floor((index + 1) * p + 1e-9) === before) return null
  const rnd = seededRandom(Math.imul(o.seed, 7_919) ^ Math.imul(index + 1, 2_654_435_761))
  return {
    mode: o.modes[before % o.modes.length]!,
    onsetS: Math.round(rnd.between(0, o.onsetMaxS)),
    developS: o.developS
  }
}

export function parseFailureModes (raw: string[]): FailureMode[] {
  const bad = raw.filter(m => !(FAILURE_MODES as readonly string[]).includes(m))
  if (bad.length > 0) throw new Error(`${bad.join(', ')}: not a failure mode (${FAILURE_MODES.join(', ')})`)
  return raw as FailureMode[]
}
