// Per-pod admission limits: most connected clients, and new connections per second (a token
// bucket). A refused car gets CONNACK 3 "server unavailable" — the MQTT 3.1.1 way to say "try
// again, or try another pod" — and the refusal is counted by reason.

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

/**
 * New connections per second per remote address (a token bucket each; 0 = off). Checked when the
 * socket is accepted, before a byte is read, so a CONNECT flood from one address costs little.
 * Idle buckets are swept so the table stays bounded.
 */
export function createAddressLimiter (perSecond: number, now: () => number = Date.now): { allow: (address: string | undefined) => boolean, stop: () => void, size: () => number } {
  const buckets = new Map<string, { tokens: number, last: number }>()
  const burst = Math.max(1, perSecond)
  const sweep = perSecond > 0
    ? setInterval(() => {
      const cutoff = now() - 10_000
      for (const [a, b] of buckets) if (b.last < cutoff) buckets.delete(a)
    }, 10_000)
    : null
  sweep?.unref()
  return {
    allow (address) {
      if (perSecond <= 0 || address === undefined) return true
      const t = now()
      const b = buckets.get(address) ?? { tokens: burst, last: t }
      b.tokens = Math.min(burst, b.tokens + ((t - b.last) / 1_000) * perSecond)
      b.last = t
      buckets.set(address, b)
      if (b.tokens < 1) return false
      b.tokens -= 1
      return true
    },
    stop: () => { if (sweep !== null) clearInterval(sweep) },
    size: () => buckets.size
  }
}
