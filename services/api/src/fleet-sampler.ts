// The fleet summary, sampled every few seconds: messages/s from the growth of vehicle.telemetry's
// end offsets (every accepted car message is one record there, whichever broker pod took it),
// connected and anomalous cars, score percentiles over the scored cars, anomalies per minute.
// Keeps a short history for the dashboard's chart and tells the event streams about each sample.
import { EventEmitter } from 'node:events'
import type { Admin } from 'kafkajs'
import type { Logger } from '../../shared/src/logger.js'
import { KafkaTopics } from '../../shared/src/topics.js'
import type { AnomalyFeed } from './anomaly-feed.js'
import type { FleetReader } from './fleet-reader.js'

export interface FleetSample {
  at: string
  vehicles: { known: number, online: number, anomalous: number, scored: number }
  messagesPerSecond: number | null
  scores: { p50: number | null, p95: number | null, max: number | null }
  anomalies: { lastMinute: number, lastHour: number }
  commandsInFlight: number
}

export function createFleetSampler (opts: { admin: Admin, reader: FleetReader, feed: AnomalyFeed, inFlight: () => Promise<number>, intervalMs: number, historySize?: number, log: Logger }) {
  const history: FleetSample[] = []
  const emitter = new EventEmitter()
  emitter.setMaxListeners(0)
  let last: { t: number, total: bigint } | null = null
  let timer: NodeJS.Timeout | null = null
  let busy = false

  async function telemetryTotal (): Promise<bigint> {
    const offsets = await opts.admin.fetchTopicOffsets(KafkaTopics.telemetry)
    return offsets.reduce((sum, p) => sum + BigInt(p.high), 0n)
  }

  async function sample (): Promise<FleetSample> {
    const t = Date.now()
    const [total, counts, inFlight] = await Promise.all([telemetryTotal(), opts.reader.counts(), opts.inFlight()])
    const rate = last === null || t <= last.t ? null : Math.max(0, Number(total - last.total) * 1000 / (t - last.t))
    last = { t, total }
    const s: FleetSample = {
      at: new Date(t).toISOString(),
      vehicles: { known: counts.known, online: counts.online, anomalous: counts.anomalous, scored: counts.scored },
      messagesPerSecond: rate === null ? null : Math.round(rate * 10) / 10,
      scores: { p50: counts.scoreP50, p95: counts.scoreP95, max: counts.scoreMax },
      anomalies: { lastMinute: opts.feed.countSince(1), lastHour: opts.feed.countSince(60) },
      commandsInFlight: inFlight
    }
    history.push(s)
    if (history.length > (opts.historySize ?? 120)) history.shift()
    emitter.emit('sample', s)
    return s
  }

  const tick = () => {
    if (busy) return
    busy = true
    sample()
      .catch(err => opts.log.warn({ err: (err as Error).message }, 'fleet sample failed'))
      .finally(() => { busy = false })
  }

  return {
    async start () {
      await sample()
      timer = setInterval(tick, opts.intervalMs)
    },
    stop () {
      if (timer !== null) clearInterval(timer)
    },
    latest: (): FleetSample | null => history[history.length - 1] ?? null,
    history: (): FleetSample[] => [...history],
    onSample (fn: (s: FleetSample) => void) {
      emitter.on('sample', fn)
      return () => { emitter.off('sample', fn) }
    }
  }
}

export type FleetSampler = ReturnType<typeof createFleetSampler>
