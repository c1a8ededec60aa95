// DLQ flood: the same fleet twice against the same brokers, first clean, then with INVALID_PCT %
// of all messages schema-invalid on top of the valid ones (the cars' valid stream is unchanged).
// Compared: the valid messages' acknowledged rate and PUBACK latency, the brokers' CPU; checked:
// no acknowledged valid message lost, every acknowledged invalid one in vehicle.telemetry.dlq.
import { KafkaTopics } from '../services/shared/src/topics.js'
import { createCommandSender, judgeCommands, type CommandVerdict } from './fault-commands.js'
import { endOffsets, judgeTelemetry, readTopic, SeqCounts, withAdmin, type SimRecords } from './fault-evidence.js'
import { apiKey, meanRate, sleep, startLoad, startSystem, startTimeline, type RunOptions } from './fault-harness.js'
import type { FaultStack } from './fault-stack.js'
import { pct } from './sim-procs.js'

const INVALID_PCT = Number(process.env.INVALID_PCT ?? 30)
const MEASURE_S = Number(process.env.MEASURE_S ?? 40)
const round2 = (x: number) => Math.round(x * 100) / 100

export const dlqFloodTitle = `DLQ flood: ${INVALID_PCT} % invalid telemetry mixed in, against a clean run in the same invocation`

interface Phase {
  phase: string
  invalidPct: number
  prefix: string
  validAckedPerS: number
  pubackMs: { p50: number | null, p99: number | null, n: number }
  brokerCores: number
  kafkaCores: number
  invalidPublished: number
  invalidAcked: number
  cars: { disconnects: number, reconnects: number, errors: number }
  records: SimRecords
  commands: CommandVerdict
}

export async function runDlqFlood (stack: FaultStack, o: RunOptions) {
  const log = (msg: string) => console.log(`[dlq-flood] ${msg}`)
  const start = await withAdmin(async admin => ({ telemetry: await endOffsets(admin, KafkaTopics.telemetry), dlq: await endOffsets(admin, KafkaTopics.telemetryDlq) }))
  const sys = await startSystem(stack, o, 'dlq-flood')
  const phases: Phase[] = []
  try {
    for (const invalidPct of [0, INVALID_PCT]) {
      const name = invalidPct === 0 ? 'clean' : 'flood'
      const prefix = `f-dlq-${name}-${Date.now().toString(36)}`
      const t0 = performance.now()
      const load = startLoad(sys, o, prefix, { FLEET_SIM_INVALID_PCT: String(invalidPct) })
      const timeline = startTimeline(sys, stack, t0, () => load.sims)
      const commands = createCommandSender(`http://127.0.0.1:${sys.api.port}`, apiKey, t0)
      const now = () => (performance.now() - t0) / 1_000
      log(`${name}: ramping ${o.cars} cars, ${invalidPct} % invalid`)
      const rampDeadline = performance.now() + (o.cars / o.rampPerS + 60) * 1_000
      await load.sims.untilConnected(o.cars, rampDeadline)
      await sleep(o.warmS * 1_000)
      const from = now()
      const sample = Array.from({ length: Math.min(o.commandCars, o.cars) }, (_, k) => load.carId(Math.floor(k * o.cars / Math.min(o.commandCars, o.cars))))
      commands.startStream(sample, o.commandsPerS, () => name)
      await sleep(MEASURE_S * 1_000)
      const to = now()
      commands.stopStream()
      const s = timeline.samples
      const first = s.find(x => x.t >= from)!
      const last = s.filter(x => x.t <= to).at(-1)!
      const w = load.sims.window(t0 + from * 1_000, t0 + to * 1_000)
      await commands.awaitFinal(performance.now() + 30_000)
      const records = await load.stop()
      timeline.stop()
      phases.push({
        phase: name,
        invalidPct,
        prefix,
        validAckedPerS: meanRate(s, from, to),
        pubackMs: { p50: pct(w.samples, 0.5), p99: pct(w.samples, 0.99), n: w.samples.length },
        brokerCores: round2((last.brokerCpuS - first.brokerCpuS) / (last.t - first.t)),
        kafkaCores: round2((last.kafkaCpuS - first.kafkaCpuS) / (last.t - first.t)),
        invalidPublished: records.stats.invalidPublished ?? 0,
        invalidAcked: records.stats.invalidAcked ?? 0,
        cars: { disconnects: records.stats.disconnects ?? 0, reconnects: records.stats.reconnects ?? 0, errors: records.stats.errors ?? 0 },
        records,
        commands: judgeCommands(commands.sent, records.commands)
      })
      log(`${name}: ${phases.at(-1)!.validAckedPerS} valid acked msg/s, PUBACK p50 ${phases.at(-1)!.pubackMs.p50} / p99 ${phases.at(-1)!.pubackMs.p99} ms, brokers ${phases.at(-1)!.brokerCores} cores`)
      await sleep(3_000)
    }
  } finally {
    await sys.stop()
  }
  log('reading vehicle.telemetry and vehicle.telemetry.dlq back')
  const inKafka = new Map(phases.map(p => [p.prefix, new SeqCounts()]))
  await readTopic(KafkaTopics.telemetry, start.telemetry, k => k.startsWith('f-dlq-'), (k, v, ts) => {
    const p = phases.find(x => k.startsWith(x.prefix))
    if (p !== undefined) inKafka.get(p.prefix)!.addRecord(k, v, ts)
  })
  const dlqByPrefix = new Map<string, number>()
  await readTopic(KafkaTopics.telemetryDlq, start.dlq, k => k.startsWith('f-dlq-'), k => {
    const p = phases.find(x => k.startsWith(x.prefix))
    if (p !== undefined) dlqByPrefix.set(p.prefix, (dlqByPrefix.get(p.prefix) ?? 0) + 1)
  })
  const out = phases.map(({ records, ...p }) => ({ ...p, telemetry: judgeTelemetry(records.acked, inKafka.get(p.prefix)!), dlqRecords: dlqByPrefix.get(p.prefix) ?? 0 }))
  const [clean, flood] = out as [typeof out[0], typeof out[0]]
  const ratio = (a: number | null, b: number | null) => a === null || b === null || b === 0 ? null : round2(a / b)
  return {
    scenario: 'dlq-flood',
    title: dlqFloodTitle,
    phases: out,
    floodVsClean: {
      validAckedPerS: ratio(flood.validAckedPerS, clean.validAckedPerS),
      pubackP50: ratio(flood.pubackMs.p50, clean.pubackMs.p50),
      pubackP99: ratio(flood.pubackMs.p99, clean.pubackMs.p99),
      brokerCores: ratio(flood.brokerCores, clean.brokerCores)
    }
  }
}
