// Whether the scorer's consumer is making progress, for /readyz: it is stalled when a batch has
// been in hand longer than the stall window (results cannot be written), or when it is behind
// (lag > 0 as of its last batch) and has scored nothing for that long. A fresh assignment gets
// the window as grace, since the first fetch of a backlog takes a moment.

export interface ConsumerProgress {
  /** The group assigned these partitions: their lag is unknown until their first batch. */
  assigned: (partitions: number[]) => void
  batchStarted: () => void
  /** A batch's results are written; `lag` is what is left behind it in its partition. */
  batchDone: (partition: number, lag: number) => void
  /** A batch failed: it is no longer in hand (it will be fetched again). */
  batchFailed: () => void
  /** Messages behind, summed over the partitions, as of their last batches. */
  readonly lag: number
  /** Why the consumer is not making progress, or null when it is. */
  stalled: () => string | null
}

export function createConsumerProgress (stallMs: number, clock: () => number = Date.now): ConsumerProgress {
  const lagByPartition = new Map<number, number>()
  let lastProgressAt = clock()
  let inHand = 0
  let inHandSince = 0
  const totalLag = () => {
    let n = 0
    for (const v of lagByPartition.values()) n += v
    return n
  }
  return {
    assigned (partitions) {
      lagByPartition.clear()
      for (const p of partitions) lagByPartition.set(p, 0)
      lastProgressAt = clock()
    },
    batchStarted () {
      if (inHand++ === 0) inHandSince = clock()
    },
    batchDone (partition, lag) {
      lagByPartition.set(partition, lag)
      lastProgressAt = clock()
      inHand = Math.max(0, inHand - 1)
      // Other partitions' batches still in hand have just seen progress too (one micro-batch).
      inHandSince = lastProgressAt
    },
    batchFailed () {
      inHand = Math.max(0, inHand - 1)
    },
    get lag () { return totalLag() },
    stalled () {
      const now = clock()
      if (inHand > 0 && now - inHandSince > stallMs) return `a batch has been in hand for ${Math.round((now - inHandSince) / 1_000)} s`
      const lag = totalLag()
      if (lag > 0 && now - lastProgressAt > stallMs) return `${lag} messages behind and nothing scored for ${Math.round((now - lastProgressAt) / 1_000)} s`
      return null
    }
  }
}
