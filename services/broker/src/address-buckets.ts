// One token bucket per remote address, in a bounded table: refilled at `perMs` up to `burst`, the
// oldest address dropped first past `maxAddresses`, and swept of buckets that are full again (a
// full bucket is what an address not on record has). The broker's per-address connect rate
// (admission.ts) and its budget of failed credential checks (auth-failures.ts) are both this.

export interface AddressBuckets {
  /** Tokens the address has now (an address not on record has a full bucket). */
  tokens: (address: string) => number
  /** Spends one token of the address (its bucket made full if new); false when it had none. */
  spend: (address: string) => boolean
  size: () => number
  stop: () => void
}

export interface AddressBucketOptions {
  /** Tokens refilled per millisecond; 0 = never refilled (nothing is swept). */
  perMs: number
  burst: number
  maxAddresses: number
  /** How often buckets full again are forgotten (default: the time to refill one, 1–60 s). */
  sweepMs?: number
  now?: () => number
}

interface Bucket { tokens: number, last: number }

export function createAddressBuckets (opts: AddressBucketOptions): AddressBuckets {
  const now = opts.now ?? Date.now
  const burst = Math.max(1, opts.burst)
  const buckets = new Map<string, Bucket>()
  const refill = (b: Bucket, t: number) => {
    b.tokens = Math.min(burst, b.tokens + (t - b.last) * opts.perMs)
    b.last = t
  }
  const sweep = opts.perMs > 0
    ? setInterval(() => {
      const t = now()
      for (const [a, b] of buckets) {
        refill(b, t)
        if (b.tokens >= burst) buckets.delete(a)
      }
    }, opts.sweepMs ?? Math.max(1_000, Math.min(60_000, burst / opts.perMs)))
    : null
  sweep?.unref()
  return {
    tokens (address) {
      const b = buckets.get(address)
      if (b === undefined) return burst
      refill(b, now())
      return b.tokens
    },
    spend (address) {
      const t = now()
      let b = buckets.get(address)
      if (b === undefined) {
        if (buckets.size >= opts.maxAddresses) buckets.delete(buckets.keys().next().value!)
        buckets.set(address, b = { tokens: burst, last: t })
      }
      refill(b, t)
      if (b.tokens < 1) return false
      b.tokens -= 1
      return true
    },
    size: () => buckets.size,
    stop: () => { if (sweep !== null) clearInterval(sweep) }
  }
}
