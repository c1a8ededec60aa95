// The Go load generator's car model (loadtest/k6/xk6-mqtt/carfleet/model.go, a port of
// services/shared/src/vehicle-model.ts) as JSON lines, through loadtest/k6/cmd/model-dump (built
// and cached by scripts/build-fleet-cars.sh). A missing or failing Go throws: callers never skip.
import { execFileSync, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import type { FailureSpec } from '../../services/shared/src/vehicle-model.js'

const root = new URL('../..', import.meta.url).pathname

/** One car for model-dump: message k is its k-th message, at ts0 + k × intervalMs. */
export interface GoModelCar {
  vehicleId: string
  seed: number
  intervalMs: number
  ts0: number
  n: number
  failure?: FailureSpec | null
  coldStart?: boolean
  firstSeq?: number
}

/** Builds model-dump (seconds when cold, cached after) and returns its path. */
export function buildModelDump (): string {
  return execFileSync(`${root}scripts/build-fleet-cars.sh`, ['model-dump'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim()
}

/**
 * The cars' messages as model-dump prints them, time-major (every car's first message, then every
 * car's second, ...): one line each, JSON text exactly as Go wrote it.
 */
export async function * goModelLines (bin: string, cars: readonly GoModelCar[]): AsyncGenerator<string> {
  const child = spawn(bin, [], { stdio: ['pipe', 'pipe', 'inherit'] })
  const exited = new Promise<number | null>((resolve, reject) => { child.once('error', reject); child.once('exit', code => resolve(code)) })
  child.stdin.end(JSON.stringify(cars))
  let done = false
  try {
    for await (const line of createInterface({ input: child.stdout, crlfDelay: Infinity })) yield line
    done = true
  } finally {
    if (!done) child.kill() // the caller stopped early
  }
  const code = await exited
  if (code !== 0) throw new Error(`model-dump exited with ${code}`)
}
