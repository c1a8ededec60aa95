// Overload shedding of new connections. A pod that has fallen behind answers a new CONNECT at once
// with CONNACK 3 ("server unavailable": try again later, or another pod) instead of spending a
// credential check, a session restore and some twenty Redis commands on a car that would get its
// CONNACK too late anyway: under a reconnect storm the cars already connected keep their PUBACKs
// in time and the refused cars come back (with their back-off) when the pod has room. Both signals
// are checked before the credential check, so a refusal costs a CONNECT's parse and a CONNACK:
//  - the event loop running late (sampled every SAMPLE_MS; FLEET_CONNECT_SHED_LAG_MS), the
//    pod's own measure of how far behind it is, whatever the cause (connects, a Kafka backlog, GC);
//  - connects under way (CONNECT read, CONNACK not yet sent; FLEET_MAX_PENDING_CONNECTS), which
//    bounds the work a burst can start between two samples.
// Neither is a budget a client can spend for others: a flood of bad passwords makes the pod late
// like any load, and the per-address limits (accept rate, failed logins) are what stop it.
// HiveMQ's overload protection (a level recomputed every 100 ms) and EMQX's (new connections
// closed while the node is overloaded) answer the same problem.
import type { Client } from './mqtt-engine/index.js'

export type ShedReason = 'overloaded' | 'connects_pending'

/** How often the event loop's lateness is sampled. */
export const SAMPLE_MS = 50

export interface ConnectShedOptions {
  /** Most connects under way at once (0 = no bound). */
  maxPending: number
  /** Refuse new connects while the event loop's latest sample is later than this (0 = off). */
  lagMs: number
  now?: () => number
  /** false: no timer (unit tests feed `observe`). */
  sample?: boolean
}

export interface ConnectShed {
  /** At CONNECT, before the credential check: a refusal, or null once the connect is counted. */
  begin: (client: Client) => ShedReason | null
  /** The connect is over (CONNACK sent and the session ready); a closed socket ends it too. */
  end: (client: Client) => void
  /** Connects under way (0 while both settings are off: nothing is tracked then). */
  pending: () => number
  /** The event loop's lateness in its latest sample (ms). */
  lateMs: () => number
  /** One sample of the event loop's lateness (ms); the timer calls it. */
  observe: (lateMs: number) => void
  stop: () => void
}

export function createConnectShed (opts: ConnectShedOptions): ConnectShed {
  const now = opts.now ?? performance.now.bind(performance)
  const underWay = new Set<Client>()
  let late = 0
  let timer: NodeJS.Timeout | null = null
  const observe = (ms: number) => { late = Math.max(0, ms) }
  if (opts.lagMs > 0 && opts.sample !== false) {
    let expected = now() + SAMPLE_MS
    timer = setInterval(() => {
      const t = now()
      observe(t - expected)
      expected = t + SAMPLE_MS
    }, SAMPLE_MS)
    timer.unref()
  }
  const end = (client: Client) => { underWay.delete(client) }
  const off = opts.lagMs <= 0 && opts.maxPending <= 0
  return {
    begin (client) {
      // both settings off (the default): no set entry or close listener per connect
      if (off) return null
      if (opts.lagMs > 0 && late > opts.lagMs) return 'overloaded'
      if (opts.maxPending > 0 && underWay.size >= opts.maxPending) return 'connects_pending'
      if (!underWay.has(client)) {
        underWay.add(client)
        // a refused connect, or a socket closed before its CONNACK, ends here
        client.conn.once('close', () => end(client))
      }
      return null
    },
    end,
    pending: () => underWay.size,
    lateMs: () => late,
    observe,
    stop () { if (timer !== null) clearInterval(timer) }
  }
}
