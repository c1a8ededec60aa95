// Broker pods as real OS processes (services/broker/src/main.ts), for cluster tests and benchmarks.
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'

export interface BrokerProcess {
  id: string
  mqttPort: number
  opsPort: number
  child: ChildProcess
  /** Sends the signal and resolves with the exit code once the process ended. */
  kill: (signal?: NodeJS.Signals) => Promise<number | null>
  metrics: () => Promise<string>
}

export const freePort = () => new Promise<number>(resolve => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const { port } = s.address() as { port: number }
    s.close(() => resolve(port))
  })
})

const root = new URL('../..', import.meta.url).pathname

export async function startBrokerProcess (id: string, env: Record<string, string> = {}): Promise<BrokerProcess> {
  const [mqttPort, opsPort] = [await freePort(), await freePort()]
  const child = spawn(process.execPath, ['--import', 'tsx', 'services/broker/src/main.ts'], {
    cwd: root,
    env: { ...process.env, FLEET_BROKER_ID: id, FLEET_MQTT_PORT: String(mqttPort), FLEET_MQTT_WS_PORT: '-1', FLEET_BROKER_OPS_PORT: String(opsPort), FLEET_LOG_LEVEL: process.env.FLEET_TEST_LOG_LEVEL ?? 'warn', ...env },
    stdio: ['ignore', 'inherit', 'inherit']
  })
  const exited = new Promise<number | null>(resolve => child.once('exit', code => resolve(code)))
  const deadline = Date.now() + 30_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`broker ${id} exited with ${child.exitCode}`)
    try {
      if ((await fetch(`http://127.0.0.1:${opsPort}/readyz`)).ok) break
    } catch {}
    if (Date.now() > deadline) throw new Error(`broker ${id} not ready in 30 s`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  return {
    id,
    mqttPort,
    opsPort,
    child,
    kill: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      return exited
    },
    metrics: async () => (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text()
  }
}

/** Sum of a metric's samples in Prometheus text (optionally only samples containing `match`). */
export function metricValue (text: string, name: string, match = ''): number {
  return text.split('\n')
    .filter(l => l.startsWith(name) && (l[name.length] === ' ' || l[name.length] === '{') && l.includes(match))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0)
}
