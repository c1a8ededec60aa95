// Broker pods as real OS processes (services/broker/src/main.ts), for cluster tests and benchmarks.
//
// Two things here keep a CI run from failing or hanging for reasons that are not the broker's:
// ports are picked below the kernel's ephemeral range (32768+ here), so an outgoing Kafka or Redis
// connection cannot take a port between our check and the broker's listen, and a broker that
// still loses that race is started again on other ports; every child's output is piped through
// this process and every child is killed when this process exits, so no orphan holds the test
// runner's stdout open after a test file is cancelled.
import type { ChildProcess } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { createServer } from 'node:net'
import { controls, spawnService, waitReady } from './child-process.js'

export interface BrokerProcess {
  id: string
  mqttPort: number
  opsPort: number
  child: ChildProcess
  /** Sends the signal and resolves with the exit code once the process ended. */
  kill: (signal?: NodeJS.Signals) => Promise<number | null>
  metrics: () => Promise<string>
}

const handedOut = new Set<number>()
const canListen = (port: number) => new Promise<boolean>(resolve => {
  const s = createServer()
  s.once('error', () => resolve(false))
  s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)))
})

/** A port in 20000–32767 that is free now and that this process has not handed out before. */
export async function freePort (): Promise<number> {
  for (let i = 0; i < 1000; i++) {
    const port = 20_000 + Math.floor(Math.random() * 12_768)
    if (handedOut.has(port)) continue
    handedOut.add(port)
    if (await canListen(port)) return port
  }
  throw new Error('no free port in 20000–32767')
}

/** The broker's V8 flags in production (the Helm chart's broker.nodeFlags, the Dockerfile's CMD;
 *  test/deploy-manifests.test.ts holds them to this), so benchmarks measure what runs there. */
export const BROKER_NODE_FLAGS = ['--max-semi-space-size=64', '--no-memory-reducer']

export interface BrokerProcessOptions {
  /** Append the broker's output to this file instead of this process's stdout/stderr. */
  logFile?: string
  /** Node flags before the script besides BROKER_NODE_FLAGS (e.g. --cpu-prof, which NODE_OPTIONS
   *  does not take). */
  nodeArgs?: string[]
  /** Another checkout whose broker to start (benchmarks compare a baseline in the same run). */
  root?: string
  /** Listen for MQTT on this port (a pod replaced behind the same address: a rolling update). */
  mqttPort?: number
}

async function spawnBroker (id: string, env: Record<string, string>, opts: BrokerProcessOptions): Promise<BrokerProcess | 'port-taken'> {
  const [mqttPort, opsPort] = [opts.mqttPort ?? await freePort(), await freePort()]
  const service = spawnService('services/broker/src/main.ts', { ...process.env, FLEET_BROKER_ID: id, FLEET_MQTT_PORT: String(mqttPort), FLEET_MQTT_WS_PORT: '-1', FLEET_BROKER_OPS_PORT: String(opsPort), FLEET_LOG_LEVEL: process.env.FLEET_TEST_LOG_LEVEL ?? 'warn', ...env }, [...BROKER_NODE_FLAGS, ...opts.nodeArgs ?? []], opts.root)
  const { child } = service
  let output = ''
  const file = opts.logFile === undefined ? undefined : createWriteStream(opts.logFile, { flags: 'a' })
  const forward = (to: NodeJS.WritableStream) => (chunk: Buffer) => {
    if (output.length < 64_000) output += chunk.toString()
    to.write(chunk)
  }
  child.stdout!.on('data', forward(file ?? process.stdout))
  child.stderr!.on('data', forward(file ?? process.stderr))
  if (await waitReady(child, `broker ${id}`, `http://127.0.0.1:${opsPort}/readyz`, 30_000) === 'exited') {
    if (output.includes('EADDRINUSE')) return 'port-taken'
    throw new Error(`broker ${id} exited with ${child.exitCode}`)
  }
  return { id, mqttPort, opsPort, child, ...controls(service, opsPort) }
}

export async function startBrokerProcess (id: string, env: Record<string, string> = {}, opts: BrokerProcessOptions = {}): Promise<BrokerProcess> {
  for (let attempt = 1; ; attempt++) {
    const broker = await spawnBroker(id, env, opts)
    if (broker !== 'port-taken') return broker
    if (attempt === 3) throw new Error(`broker ${id}: its ports were taken three times in a row`)
  }
}

/** Starts several brokers (options alike, or per broker); if one fails, the others are killed
 *  before the error is thrown. */
export async function startBrokerProcesses (ids: string[], env: Record<string, string> = {}, opts: BrokerProcessOptions | ((i: number) => BrokerProcessOptions) = {}): Promise<BrokerProcess[]> {
  const settled = await Promise.allSettled(ids.map((id, i) => startBrokerProcess(id, env, typeof opts === 'function' ? opts(i) : opts)))
  const failed = settled.find(s => s.status === 'rejected')
  const started = settled.flatMap(s => s.status === 'fulfilled' ? [s.value] : [])
  if (failed !== undefined) {
    await Promise.all(started.map(b => b.kill('SIGKILL')))
    throw (failed as PromiseRejectedResult).reason
  }
  return started
}

/** Sum of a metric's samples in Prometheus text (optionally only samples containing every `match`). */
export function metricValue (text: string, name: string, ...match: string[]): number {
  return text.split('\n')
    .filter(l => l.startsWith(name) && (l[name.length] === ' ' || l[name.length] === '{') && match.every(m => l.includes(m)))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0)
}
