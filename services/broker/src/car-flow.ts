// What a car may make the pod hold, and how fast it may send: every message a car sends is written
// to the sink at once (its PUBACK waits for Kafka), and the car's socket stops being read — its
// packets are held, as aedes holds a packet it handles — while any of these holds:
// - window: the car has `maxInflight` messages unacknowledged by Kafka (memory per car bounded);
// - rate: the car is over its publish rate, a token bucket per car (`ratePerSecond`, `burst`;
//   AWS IoT Core allows 100 publishes/s per connection). Over it the car is slowed: not read until
//   its bucket is back at zero; each slow-down is counted. A few arithmetic operations per message.
// - pod budget: the bytes of all messages held on this pod (payload + an estimate of what each
//   costs besides) passed `podBytes`; every car is then paused after its next message until
//   Kafka's acknowledgements bring the total under three quarters of it (a Kafka outage at full
//   fleet density would otherwise need cars × window × message bytes).
// An MQTT 5 car's refused message (over its rate: 0x97, not authorised: 0x87) is answered by a
// PUBACK with that reason code, after the PUBACKs of its earlier messages [MQTT-4.6.0-2]; until
// then it counts in the car's window like a message Kafka has not acknowledged.
import type { BrokerMetrics } from './broker-metrics.js'
import type { IngestRecord, IngestSink } from './kafka-ingest.js'
import type { Client } from './mqtt-engine/index.js'

/** What a held message costs besides its payload (record, callbacks, queues; measured ~1 KiB). */
export const HELD_RECORD_OVERHEAD = 1_024

export interface CarFlowOptions {
  sink: IngestSink
  maxInflight: number
  /** Publishes per second per car (0 = no limit). */
  ratePerSecond: number
  /** Publishes a car may send at once before its rate applies. */
  burst: number
  /** Bytes of held messages per pod before reading pauses (0 = no limit). */
  podBytes: number
  /** Kafka has the record (or a refusal's turn came): send its PUBACK with this reason code. */
  ack: (client: Client, messageId: number, reason: number) => void
  metrics: BrokerMetrics
  now?: () => number
}

interface Flow {
  /** Messages written to the sink and not yet acknowledged by Kafka. */
  pending: number
  /** Callbacks of packets held (one read can hold many). */
  held: Array<() => void>
  /** The rate bucket: tokens (negative while slowed) as of `last` (ms). */
  tokens: number
  last: number
  slowed: boolean
  /** Records written to the sink, and how many of them called back (in order: one sink, FIFO). */
  written: number
  settled: number
  /** Refusals waiting for the records written before them: [after written, messageId, reason]. */
  refusals: Array<[number, number, number]>
}

export interface CarFlow {
  /** Writes a car's record (QoS 1: PUBACK `messageId` after Kafka's ack). True if the car is now
   *  held: `resume` runs once it may be read again (it is not called otherwise). */
  ingest: (client: Client, messageId: number | undefined, record: IngestRecord, resume: () => void, now: number, reason?: number) => boolean
  /** Answers a QoS 1 message that goes nowhere with PUBACK `reason`, after the earlier ones.
   *  True if the car is now held, as for ingest. */
  refuse: (client: Client, messageId: number, reason: number, resume: () => void, now: number) => boolean
  /** Whether one more message now would be within the car's rate (nothing is charged). */
  withinRate: (client: Client, now: number) => boolean
  /** Charges the car's rate for a message that takes another path; `go` runs now or once the car
   *  is no longer slowed. */
  pace: (client: Client, now: number, go: () => void) => void
  /** Cars not read at the moment; they are alive all the same. */
  heldClients: () => Iterable<Client>
  /** Bytes of messages held on this pod. */
  heldBytes: () => number
  isHeld: (client: Client) => boolean
  /** The car's messages written to Kafka and not yet acknowledged (its PUBACKs still owed). */
  pendingOf: (client: Client) => number
}

export function createCarFlow (opts: CarFlowOptions): CarFlow {
  const { sink, maxInflight, burst, podBytes, ack, metrics } = opts
  const now = opts.now ?? Date.now
  const ackSeconds = metrics.ingestAckSeconds
  const perMs = opts.ratePerSecond / 1_000
  const lowWater = Math.floor(podBytes * 0.75)
  const flows = new WeakMap<Client, Flow>()
  const held = new Set<Client>()
  let bytes = 0
  let paused = false
  let podWaiting = new Set<Client>()

  const flowOf = (client: Client, t: number): Flow => {
    let f = flows.get(client)
    if (f === undefined) flows.set(client, f = { pending: 0, held: [], tokens: burst, last: t, slowed: false, written: 0, settled: 0, refusals: [] })
    return f
  }

  function release (client: Client, f: Flow): void {
    if (f.pending >= maxInflight || f.slowed) return
    if (paused) {
      podWaiting.add(client)
      return
    }
    const waiting = f.held
    f.held = []
    held.delete(client)
    for (const r of waiting) r()
  }

  function unpause (): void {
    paused = false
    metrics.readPaused.set(0)
    const waiting = podWaiting
    podWaiting = new Set()
    for (const client of waiting) {
      const f = flows.get(client)
      if (f !== undefined && f.held.length > 0) release(client, f)
    }
  }

  function wake (client: Client, f: Flow): void {
    const t = now()
    f.tokens = Math.min(burst, f.tokens + (t - f.last) * perMs)
    f.last = t
    if (f.tokens < 0) {
      setTimeout(wake, -f.tokens / perMs, client, f)
      return
    }
    f.slowed = false
    if (f.held.length > 0) release(client, f)
  }

  /** One message on the car's bucket; over it the car is slowed until the bucket is back at 0. */
  function charge (client: Client, f: Flow, t: number): void {
    f.tokens = Math.min(burst, f.tokens + (t - f.last) * perMs) - 1
    f.last = t
    if (f.tokens >= 0 || f.slowed) return
    f.slowed = true
    metrics.rateLimited.inc()
    setTimeout(wake, -f.tokens / perMs, client, f)
  }

  function hold (client: Client, f: Flow, resume: () => void): void {
    f.held.push(resume)
    held.add(client)
    if (paused && f.pending < maxInflight && !f.slowed) podWaiting.add(client)
  }

  /** Sends the refusals whose earlier records have all called back. */
  function settleRefusals (client: Client, f: Flow): void {
    while (f.refusals.length > 0 && f.refusals[0]![0] <= f.settled) {
      const [, id, reason] = f.refusals.shift()!
      f.pending--
      ack(client, id, reason)
    }
  }

  /** Holds the car if it is at its window, slowed or the pod is paused; false if it may go on. */
  function holdIfDue (client: Client, f: Flow, resume: () => void): boolean {
    if (f.pending < maxInflight && !f.slowed && !paused) return false
    hold(client, f, resume)
    return true
  }

  return {
    ingest (client, messageId, record, resume, t, reason = 0) {
      const f = flowOf(client, t)
      const size = record.value.length + HELD_RECORD_OVERHEAD
      f.pending++
      f.written++
      bytes += size
      sink.write(record, err => {
        if (err === undefined) ackSeconds.observe((now() - t) / 1_000)
        f.pending--
        f.settled++
        bytes -= size
        // On error (shutdown) no PUBACK: the car still holds the message and resends it.
        if (err === undefined && messageId !== undefined) ack(client, messageId, reason)
        if (f.refusals.length > 0) settleRefusals(client, f)
        if (paused && bytes < lowWater) unpause()
        if (f.held.length > 0) release(client, f)
      })
      if (perMs > 0) charge(client, f, t)
      if (podBytes > 0 && !paused && bytes >= podBytes) {
        paused = true
        metrics.readPaused.set(1)
        metrics.readPauses.inc()
      }
      return holdIfDue(client, f, resume)
    },
    refuse (client, messageId, reason, resume, t) {
      const f = flowOf(client, t)
      f.pending++
      f.refusals.push([f.written, messageId, reason])
      settleRefusals(client, f)
      return holdIfDue(client, f, resume)
    },
    withinRate (client, t) {
      if (perMs === 0) return true
      const f = flows.get(client)
      if (f === undefined) return true
      return Math.min(burst, f.tokens + (t - f.last) * perMs) >= 1
    },
    pace (client, t, go) {
      if (perMs === 0) {
        go()
        return
      }
      const f = flowOf(client, t)
      charge(client, f, t)
      if (f.slowed) hold(client, f, go)
      else go()
    },
    heldClients: () => held,
    heldBytes: () => bytes,
    isHeld: client => held.has(client),
    pendingOf: client => flows.get(client)?.pending ?? 0
  }
}
