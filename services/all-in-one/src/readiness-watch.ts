// What the launcher tells about a service's readiness: it waits for the service to be ready before
// saying the fleet runs, then logs each change (a warning with the failing checks when it stops
// being ready, info when it is back), so a service that stops working is never silent.
import type { Logger } from '../../shared/src/logger.js'

export type Readiness = () => Record<string, boolean>

const failing = (checks: Record<string, boolean>) => Object.entries(checks).filter(([, ok]) => !ok).map(([name]) => name)

/** Resolves with the checks that still fail after `timeoutMs` ([] = ready). */
export async function waitReady (readiness: Readiness, timeoutMs: number, pollMs = 200): Promise<string[]> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const bad = failing(readiness())
    if (bad.length === 0 || Date.now() >= deadline) return bad
    await new Promise(resolve => setTimeout(resolve, pollMs))
  }
}

/** Polls `readiness` and logs its changes; returns a function that stops watching. */
export function watchReadiness (name: string, readiness: Readiness, log: Logger, intervalMs = 5_000): () => void {
  let wasReady = failing(readiness()).length === 0
  const timer = setInterval(() => {
    const bad = failing(readiness())
    if (bad.length > 0 && wasReady) log.warn({ service: name, failing: bad }, `${name} is not ready`)
    if (bad.length === 0 && !wasReady) log.info({ service: name }, `${name} is ready`)
    wasReady = bad.length === 0
  }, intervalMs)
  timer.unref()
  return () => clearInterval(timer)
}
