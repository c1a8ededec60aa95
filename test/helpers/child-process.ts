// What the broker and service process helpers share: fleet services started as real OS processes
// from their main.ts, tracked so every child is killed when this process exits (no orphan holds
// the test runner's stdout open), waited for until /readyz answers, and stopped or scraped.
import { spawn, type ChildProcess } from 'node:child_process'

const children = new Set<ChildProcess>()
process.once('exit', () => { for (const c of children) c.kill('SIGKILL') })
// The test runner ends a file that timed out with SIGTERM, which skips 'exit' handlers.
process.once('SIGTERM', () => process.exit(143))

export const root = new URL('../..', import.meta.url).pathname

export interface ServiceChild {
  child: ChildProcess
  /** Resolves with the exit code (null after a signal) once the process ended. */
  exited: Promise<number | null>
}

/** Spawns `node [nodeArgs] --import tsx <script>` in the repo root (or another checkout: `cwd`)
 *  with piped output. */
export function spawnService (script: string, env: NodeJS.ProcessEnv, nodeArgs: string[] = [], cwd = root): ServiceChild {
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', script], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(child)
  const exited = new Promise<number | null>(resolve => child.once('exit', code => { children.delete(child); resolve(code) }))
  return { child, exited }
}

/**
 * Polls `readyUrl` until it answers 2xx. Resolves 'exited' if the process ends first; kills it and
 * throws after `timeoutMs`.
 */
export async function waitReady (child: ChildProcess, name: string, readyUrl: string, timeoutMs: number, pollMs = 100): Promise<'ready' | 'exited'> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (child.exitCode !== null) return 'exited'
    try {
      if ((await fetch(readyUrl)).ok) return 'ready'
    } catch {}
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`${name} not ready in ${Math.round(timeoutMs / 1_000)} s`)
    }
    await new Promise(resolve => setTimeout(resolve, pollMs))
  }
}

/** kill (resolving with the exit code once ended) and a /metrics scrape of a started service. */
export function controls ({ child, exited }: ServiceChild, port: number) {
  return {
    kill: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      return exited
    },
    metrics: async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
  }
}
