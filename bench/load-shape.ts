// How load scripts read their numbers from the environment: a name with the script's default, a
// value that is not a number refused with its name (not run as NaN), and the shape every load run
// shares (CARS, INTERVAL_MS, HOLD_S, RAMP_PER_S) in one call.

export function envNumber (name: string, dflt: number, env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[name]
  if (raw === undefined || raw.trim() === '') return dflt
  const n = Number(raw)
  if (!Number.isFinite(n)) throw new Error(`${name}=${raw} is not a number`)
  return n
}

export interface LoadShape {
  /** CARS: simulated cars. */
  cars: number
  /** INTERVAL_MS: one message per car this often. */
  intervalMs: number
  /** HOLD_S: how long the measured window lasts. */
  holdS: number
  /** RAMP_PER_S: new connections per second while the fleet connects. */
  rampPerS: number
}

export function loadShape (defaults: LoadShape, env: NodeJS.ProcessEnv = process.env): LoadShape {
  return {
    cars: envNumber('CARS', defaults.cars, env),
    intervalMs: envNumber('INTERVAL_MS', defaults.intervalMs, env),
    holdS: envNumber('HOLD_S', defaults.holdS, env),
    rampPerS: envNumber('RAMP_PER_S', defaults.rampPerS, env)
  }
}

/** A variant a bench measures beside another: a name, which checkout (this one if none), with which
 *  environment besides this one's. */
export interface Variant { name: string, root?: string, env: Record<string, string> }

/** Reads `name[@/checkout][:FLEET_X=1 FLEET_Y=2]` (the VARIANTS entries of the benches). */
export function parseVariant (spec: string): Variant {
  const m = /^([\w.-]+)(?:@([^:]+))?(?::(.*))?$/.exec(spec.trim())
  if (m === null) throw new Error(`VARIANTS: cannot read "${spec}" (name[@/checkout][:FLEET_X=1 FLEET_Y=2])`)
  const env = Object.fromEntries((m[3] ?? '').split(' ').filter(a => a.includes('=')).map(a => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]))
  return { name: m[1]!, ...(m[2] === undefined ? {} : { root: m[2] }), env }
}
