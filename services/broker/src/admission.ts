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
