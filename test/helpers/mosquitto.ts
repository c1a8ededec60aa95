// Debian's Mosquitto as a peer to compare against (load tests, conformance): started on a free
// loopback port with a generated config (anonymous, no persistence), output piped, killed when this
// process exits.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './broker-process.js'

export interface MosquittoProcess {
  port: number
  child: ChildProcess
  stop: () => Promise<void>
}

export const MOSQUITTO_BIN = process.env.FLEET_MOSQUITTO_BIN ?? '/usr/sbin/mosquitto'

const running = new Set<ChildProcess>()
process.once('exit', () => { for (const c of running) c.kill('SIGKILL') })

const portOpen = (port: number) => new Promise<boolean>(resolve => {
  const s = connect(port, '127.0.0.1')
  s.once('connect', () => { s.destroy(); resolve(true) })
  s.once('error', () => resolve(false))
})

/** Starts Mosquitto; `extra` lines are appended to its config. */
export async function startMosquitto (extra: string[] = []): Promise<MosquittoProcess> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'fleet-mosquitto-'))
  const conf = join(dir, 'mosquitto.conf')
  writeFileSync(conf, [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence false', 'max_inflight_messages 0', 'log_dest stderr', 'log_type error', 'log_type warning', ...extra].join('\n') + '\n')
  const child = spawn(MOSQUITTO_BIN, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] })
  running.add(child)
  let output = ''
  child.stdout!.on('data', (d: Buffer) => { output += d })
  child.stderr!.on('data', (d: Buffer) => { output += d })
  const exited = new Promise<void>(resolve => child.once('exit', () => { running.delete(child); resolve() }))
  const deadline = Date.now() + 10_000
  while (!(await portOpen(port))) {
    if (child.exitCode !== null) throw new Error(`mosquitto exited with ${child.exitCode}: ${output.slice(0, 2_000)}`)
    if (Date.now() > deadline) { child.kill('SIGKILL'); throw new Error(`mosquitto not listening on ${port} in 10 s: ${output.slice(0, 2_000)}`) }
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  return {
    port,
    child,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      await exited
    }
  }
}
