// Failed credential checks per remote address: a token bucket of allowed failures each (a burst,
// refilled at a rate per minute). An address past its budget gets CONNACK 3 before its
// credentials are checked, so a wrong-password flood costs the pod little and — the per-pod
// connect budget being charged only after a successful check (vehicle-auth.ts) — locks out
// nobody else. Keyed by address, not client id: a limit per client id would let anyone lock a
// car out by sending wrong passwords under its id. The table is bounded (oldest entry dropped
// first) and swept of addresses whose budget is full again.

export interface AuthFailureLimiter {
  /** True if this address has no failures left to spend: refuse before checking credentials. */
  blocked: (address: string | undefined) => boolean
  /** A credential check from this address failed. */
  failed: (address: string | undefined) => void
  /** Addresses with failures on record. */
  size: () => number
  stop: () => void
}

export interface AuthFailureOptions {
  /** Failures refilled per minute per address (0 = off). */
  perMinute: number
  /** Failures an address may make at once. */
  burst: number
  /** Most addresses tracked. */
  maxAddresses: number
  now?: () => number
}

interface Bucket { tokens: number, last: number }

export function createAuthFailureLimiter (opts: AuthFailureOptions): AuthFailureLimiter {
  const now = opts.now ?? Date.now
  const perMs = opts.perMinute / 60_000
  const burst = Math.max(1, opts.burst)
  const buckets = new Map<string, Bucket>()
  const refill = (b: Bucket, t: number) => {
    b.tokens = Math.min(burst, b.tokens + (t - b.last) * perMs)
    b.last = t
  }
  // A bucket full again is forgotten; refilling takes burst / rate.
  const sweep = opts.perMinute > 0
    ? setInterval(() => {
      const t = now()
      for (const [a, b] of buckets) {
        refill(b, t)
        if (b.tokens >= burst) buckets.delete(a)
      }
    }, Math.max(1_000, Math.min(60_000, burst / perMs)))
    : null
  sweep?.unref()
  return {
    blocked (address) {
      if (perMs === 0 || address === undefined) return false
      const b = buckets.get(address)
      if (b === undefined) return false
      refill(b, now())
      return b.tokens < 1
    },
    failed (address) {
      if (perMs === 0 || address === undefined) return
      const t = now()
      let b = buckets.get(address)
      if (b === undefined) {
        if (buckets.size >= opts.maxAddresses) buckets.delete(buckets.keys().next().value!)
        buckets.set(address, b = { tokens: burst, last: t })
      }
      refill(b, t)
      b.tokens = Math.max(0, b.tokens - 1)
    },
    size: () => buckets.size,
    stop: () => { if (sweep !== null) clearInterval(sweep) }
  }
}
