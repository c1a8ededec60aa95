// Failed credential checks per remote address: a token bucket of allowed failures each (a burst,
// refilled at a rate per minute). An address past its budget gets CONNACK 3 before its
// credentials are checked, so a wrong-password flood costs the pod little and — the per-pod
// connect budget being charged only after a successful check (vehicle-auth.ts) — locks out
// nobody else. Keyed by address, not client id: a limit per client id would let anyone lock a
// car out by sending wrong passwords under its id. The table is bounded (oldest entry dropped
// first) and swept of addresses whose budget is full again (address-buckets.ts).
import { createAddressBuckets } from './address-buckets.js'

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

export function createAuthFailureLimiter (opts: AuthFailureOptions): AuthFailureLimiter {
  const off = opts.perMinute <= 0
  const buckets = createAddressBuckets({ perMs: Math.max(0, opts.perMinute) / 60_000, burst: opts.burst, maxAddresses: opts.maxAddresses, ...(opts.now !== undefined ? { now: opts.now } : {}) })
  return {
    blocked: address => !off && address !== undefined && buckets.tokens(address) < 1,
    failed (address) {
      if (!off && address !== undefined) buckets.spend(address)
    },
    size: buckets.size,
    stop: buckets.stop
  }
}
