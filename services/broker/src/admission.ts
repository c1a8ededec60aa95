// Per-pod admission limits: most connected clients, and new connections per second (a token
// bucket). A refused car gets CONNACK 3 "server unavailable" — the MQTT 3.1.1 way to say "try
// again, or try another pod" — and the refusal is counted by reason.
import { createAddressBuckets } from './address-buckets.js'

export type AdmissionRefusal = 'max_connections' | 'connect_rate'

export interface AdmissionOptions {
  maxConnections: number
  connectsPerSecond: number
  connected: () => number
  now?: () => number
}

export function createAdmission (opts: AdmissionOptions): { admit: () => AdmissionRefusal | null } {
  const now = opts.now ?? Date.now
  const burst = Math.max(1, opts.connectsPerSecond)
  let tokens = burst
  let last = now()
  return {
    admit () {
      if (opts.connected() >= opts.maxConnections) return 'max_connections'
      const t = now()
      tokens = Math.min(burst, tokens + ((t - last) / 1_000) * opts.connectsPerSecond)
      last = t
      if (tokens < 1) return 'connect_rate'
      tokens -= 1
      return null
    }
  }
}

/** Most remote addresses whose connect rate is tracked (the oldest is forgotten first). */
const RATE_ADDRESSES = 100_000

/**
 * New connections per second per remote address (a token bucket each; 0 = off). Checked when the
 * socket is accepted, before a byte is read, so a CONNECT flood from one address costs little.
 */
export function createAddressLimiter (perSecond: number, now: () => number = Date.now): { allow: (address: string | undefined) => boolean, stop: () => void, size: () => number } {
  const buckets = createAddressBuckets({ perMs: Math.max(0, perSecond) / 1_000, burst: perSecond, maxAddresses: RATE_ADDRESSES, sweepMs: 10_000, now })
  return {
    allow: address => perSecond <= 0 || address === undefined || buckets.spend(address),
    stop: buckets.stop,
    size: buckets.size
  }
}
