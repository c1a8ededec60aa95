// Failed logins per client address: after `maxFailures` in a minute every request from that
// address gets 429 until the minute is over, so keys cannot be guessed at line rate. Per
// process (each api replica counts alone); the table of addresses is bounded.
export interface AuthLimiter {
  /** Seconds until the address may try again, or 0 when it may try now. */
  blockedFor: (address: string) => number
  /** Counts a failed login; true when this one used up the address's budget. */
  failed: (address: string) => boolean
  size: () => number
}

export function createAuthLimiter (opts: { maxFailures: number, windowMs?: number, maxAddresses?: number, now?: () => number }): AuthLimiter {
  const windowMs = opts.windowMs ?? 60_000
  const maxAddresses = opts.maxAddresses ?? 100_000
  const now = opts.now ?? Date.now
  // Insertion order = age of the window: the oldest entries are the first to go.
  const windows = new Map<string, { start: number, failures: number }>()
  const current = (address: string) => {
    const w = windows.get(address)
    if (w !== undefined && now() - w.start >= windowMs) {
      windows.delete(address)
      return undefined
    }
    return w
  }
  const makeRoom = () => {
    for (const [address, w] of windows) {
      if (windows.size < maxAddresses) return
      if (now() - w.start >= windowMs) windows.delete(address)
    }
    // Still full of live windows: forget the oldest (an attacker with that many addresses is
    // slowed by the request rate limit, not by this table).
    while (windows.size >= maxAddresses) windows.delete(windows.keys().next().value!)
  }
  return {
    blockedFor (address) {
      const w = current(address)
      if (w === undefined || w.failures < opts.maxFailures) return 0
      return Math.max(1, Math.ceil((w.start + windowMs - now()) / 1000))
    },
    failed (address) {
      let w = current(address)
      if (w === undefined) {
        makeRoom()
        w = { start: now(), failures: 0 }
        windows.set(address, w)
      }
      w.failures++
      return w.failures === opts.maxFailures
    },
    size: () => windows.size
  }
}
