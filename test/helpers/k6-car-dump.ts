// The k6 car's messages as k6 makes them: loadtest/k6/car-model-dump.ts run by a k6 binary, each
// car given as for model-dump (test/helpers/go-model.ts). Returns the JSON lines, time-major, or
// with `timing` how long making them took inside k6 (`script`: another checkout's copy of the dump).
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { GoModelCar } from './go-model.js'

const root = new URL('../..', import.meta.url).pathname

export type K6ModelCar = Omit<GoModelCar, 'failure' | 'coldStart'>

const DUMP = `${root}loadtest/k6/car-model-dump.ts`

function runDump (k6: string, cars: readonly K6ModelCar[], timing: boolean, script = DUMP): string {
  const dir = mkdtempSync(join(tmpdir(), 'fleet-k6-car-'))
  try {
    writeFileSync(join(dir, 'cars.json'), JSON.stringify(cars))
    execFileSync(k6, ['run', '--no-usage-report', '--quiet', '--address', '', '-e', `CARS_FILE=${join(dir, 'cars.json')}`, '-e', `OUT=${join(dir, 'out')}`,
      '-e', `TIMING=${timing ? 1 : 0}`, script], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 300_000 })
    return readFileSync(join(dir, 'out'), 'utf8')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

export const k6CarLines = (k6: string, cars: readonly K6ModelCar[]): string[] => runDump(k6, cars, false).split('\n').filter(l => l !== '')

export const k6CarTiming = (k6: string, cars: readonly K6ModelCar[], script = DUMP): { messages: number, bytes: number, ms: number } =>
  JSON.parse(runDump(k6, cars, true, script)) as { messages: number, bytes: number, ms: number }
