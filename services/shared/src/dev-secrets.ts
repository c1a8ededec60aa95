// Secrets published in this repository (defaults, charts, docs). A process refuses to start with
// any of them unless FLEET_DEV_MODE=1 says it is a developer's machine or a test run.
import { DEV_SIGNING_KEY } from './legacy-tokens.js'

export const PUBLISHED_DEV_SECRETS: readonly string[] = [
  DEV_SIGNING_KEY,
  'fleet-dev-operator-key',
  'fleet-dev-read-only-key',
  'fleet-dev-jwt-secret-do-not-use-in-production-0000'
]

/** Problems for settings whose values contain a published secret, unless in development mode. */
export function devSecretProblems (devMode: boolean, values: Record<string, string>): string[] {
  if (devMode) return []
  return Object.entries(values).flatMap(([env, value]) => {
    const hit = PUBLISHED_DEV_SECRETS.find(s => value !== '' && value.includes(s))
    return hit === undefined ? [] : [`${env}: holds a published development secret; set your own, or FLEET_DEV_MODE=1 on a developer machine`]
  })
}
