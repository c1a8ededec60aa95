// Debian's mosquitto_pub and mosquitto_sub as an independent MQTT client (libmosquitto, C) for
// system tests. Output is piped, never inherited, and every child still running when this process
// exits is killed, so no orphan holds the test runner's stdout open.
import { spawn, type ChildProcess } from 'node:child_process'

export const MOSQUITTO_PUB = process.env.FLEET_MOSQUITTO_PUB_BIN ?? 'mosquitto_pub'
export const MOSQUITTO_SUB = process.env.FLEET_MOSQUITTO_SUB_BIN ?? 'mosquitto_sub'

const children = new Set<ChildProcess>()
process.once('exit', () => { for (const c of children) c.kill('SIGKILL') })

export interface CliProcess {
  child: ChildProcess
  /** stdout and stderr so far. */
  output: () => string
  /** Resolves when the output matches `pattern`; rejects on exit or after `timeoutMs`. */
  waitFor: (pattern: RegExp, timeoutMs?: number) => Promise<RegExpMatchArray>
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  kill: (signal?: NodeJS.Signals) => Promise<void>
}

/** Starts a CLI client; `timeoutMs` kills it (SIGKILL) if it is still running then. */
export function startCli (bin: string, args: string[], timeoutMs = 15_000): CliProcess {
  // stdbuf (coreutils) execs the client with line-buffered stdout, so what it prints arrives as it
  // happens rather than when the pipe's buffer fills or the client exits
  const child = spawn('stdbuf', ['-oL', '-eL', bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(child)
  let out = ''
  const append = (d: Buffer) => { if (out.length < 256_000) out += d.toString() }
  child.stdout!.on('data', append)
  child.stderr!.on('data', append)
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  timer.unref()
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>(resolve => {
    child.once('error', err => { out += `\n[spawn error] ${err.message}`; children.delete(child); clearTimeout(timer); resolve({ code: -1, signal: null }) })
    child.once('close', (code, signal) => { children.delete(child); clearTimeout(timer); resolve({ code, signal }) })
  })
  let done = false
  void exited.then(() => { done = true })
  return {
    child,
    output: () => out,
    async waitFor (pattern, ms = 5_000) {
      const deadline = Date.now() + ms
      for (;;) {
        const m = out.match(pattern)
        if (m !== null) return m
        if (done) throw new Error(`${bin} exited before printing ${pattern}: ${out.slice(-500)}`)
        if (Date.now() > deadline) throw new Error(`${bin} did not print ${pattern} within ${ms} ms: ${out.slice(-500)}`)
        await new Promise(resolve => setTimeout(resolve, 10))
      }
    },
    exited,
    async kill (signal = 'SIGTERM') {
      if (!done) child.kill(signal)
      await exited
    }
  }
}

export interface CliResult { code: number | null, signal: NodeJS.Signals | null, output: string }

/** Runs a CLI client to its end. */
export async function runCli (bin: string, args: string[], timeoutMs = 15_000): Promise<CliResult> {
  const p = startCli(bin, args, timeoutMs)
  const { code, signal } = await p.exited
  return { code, signal, output: p.output() }
}

/** Host, port and identity arguments shared by mosquitto_pub and mosquitto_sub (MQTT 3.1.1). */
export function connectArgs (port: number, creds: { clientId: string, username?: string, password?: string, port?: number }, version: 'mqttv311' | 'mqttv5' = 'mqttv311'): string[] {
  return [
    '-h', '127.0.0.1', '-p', String(creds.port ?? port), '-V', version, '-i', creds.clientId,
    ...(creds.username === undefined ? [] : ['-u', creds.username]),
    ...(creds.password === undefined ? [] : ['-P', creds.password])
  ]
}
