// CPU seconds and RSS of a process from /proc, for benchmarks that report the broker's cost.
import { readFileSync } from 'node:fs'

const TICKS = 100 // USER_HZ on Linux

export function cpuSeconds (pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / TICKS // utime + stime
}

/** utime and stime of a process (all its threads), or of one thread with `tid`, in seconds. */
export function cpuSplit (pid: number, tid?: number): { user: number, system: number } {
  const stat = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return { user: Number(fields[11]) / TICKS, system: Number(fields[12]) / TICKS }
}

export function rssBytes (pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) * 1024 : NaN
}

/** CPU seconds all cores of the machine spent busy (not idle or iowait) since boot, from /proc/stat. */
export function machineBusySeconds (): number {
  const [, ...f] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/)
  const n = f.map(Number) // user nice system idle iowait irq softirq steal …
  return (n[0]! + n[1]! + n[2]! + n[5]! + n[6]! + n[7]!) / TICKS
}

const root = new URL('..', import.meta.url).pathname

/** The pid scripts/stack.sh recorded for `kafka` or `redis` (FLEET_STACK_DIR or .stack), if any. */
export function stackPid (name: 'kafka' | 'redis'): number | undefined {
  try { return Number(readFileSync(`${process.env.FLEET_STACK_DIR ?? `${root}.stack`}/${name}/pid`, 'utf8')) } catch { return undefined }
}

/** cpuSeconds of a process that may have ended or never existed: 0 then. */
export function cpuSecondsOr0 (pid: number | undefined): number {
  try { return pid === undefined ? 0 : cpuSeconds(pid) } catch { return 0 }
}
