// fleet's other services (scorer, commander, api) as real OS processes started from their
// main.ts with environment variables, for fault tests and load tests that kill them: on a free
// port, ready when /readyz answers 200, their output forwarded or appended to a log file, killed
// when this process exits.
import type { ChildProcess } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { freePort } from './broker-process.js'
import { spawnService, waitReady, controls } from './child-process.js'

export type ServiceName = 'scorer' | 'commander' | 'api'

export interface ServiceProcess {
  name: string
  port: number
  child: ChildProcess
  /** Sends the signal and resolves with the exit code (null after a signal) once it ended. */
  kill: (signal?: NodeJS.Signals) => Promise<number | null>
  metrics: () => Promise<string>
}

/** The env variable of each service's HTTP port (ops for scorer/commander, the api's own; the api's /metrics is on its ops port). */
const portEnv: Record<ServiceName, string> = {
  scorer: 'FLEET_SCORER_OPS_PORT',
  commander: 'FLEET_COMMANDER_OPS_PORT',
  api: 'FLEET_API_PORT'
}

export async function startServiceProcess (service: ServiceName, opts: { name?: string, env?: Record<string, string>, logFile?: string, readyTimeoutMs?: number } = {}): Promise<ServiceProcess> {
  const name = opts.name ?? service
  const port = await freePort()
  const opsPort = service === 'api' ? await freePort() : port
  const started = spawnService(`services/${service}/src/main.ts`, { ...process.env, FLEET_LOG_LEVEL: process.env.FLEET_TEST_LOG_LEVEL ?? 'warn', ...opts.env, [portEnv[service]]: String(port), ...(service === 'api' ? { FLEET_API_OPS_PORT: String(opsPort) } : {}) })
  const { child } = started
  if (opts.logFile !== undefined) {
    const log = createWriteStream(opts.logFile, { flags: 'a' })
    child.stdout!.pipe(log)
    child.stderr!.pipe(log)
  } else {
    child.stdout!.on('data', d => process.stdout.write(d))
    child.stderr!.on('data', d => process.stderr.write(d))
  }
  if (await waitReady(child, name, `http://127.0.0.1:${port}/readyz`, opts.readyTimeoutMs ?? 60_000, 200) === 'exited') throw new Error(`${name} exited with ${child.exitCode}`)
  return { name, port, child, ...controls(started, opsPort) }
}
