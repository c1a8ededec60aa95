// What every fault scenario shares: the system under test as real OS processes on the fault
// stack (broker processes, api, commander(s), optionally scorers), a simulated fleet as load
// (simulator processes recording which (car, seq) got a PUBACK), a 1 s timeline of acknowledged
// msg/s, connected cars and broker memory, a steady stream of operators' commands, and the
// verdicts read back from Kafka once everything has stopped.
import { mkdirSync } from 'node:fs'
import type { Admin } from 'kafkajs'
import { cpuSeconds, rssBytes } from '../bench/proc-stats.js'
import { KafkaTopics } from '../services/shared/src/topics.js'
import { metricValue, startBrokerProcesses, type BrokerProcess } from '../test/helpers/broker-process.js'
import { groupAtEnd } from '../test/helpers/scorer.js'
import { startServiceProcess, type ServiceProcess } from '../test/helpers/service-process.js'
import { createCommandSender, judgeCommands } from './fault-commands.js'
import { endOffsets, judgeTelemetry, readSimRecords, readTopic, SeqCounts, sumOffsets, withAdmin } from './fault-evidence.js'
import type { FaultStack } from './fault-stack.js'
import { carsStartingOn } from './broker-slots.js'
import { pct, startSimulators, type SimFleet } from './sim-procs.js'

export interface RunOptions {
  cars: number
  simProcs: number
  intervalMs: number
  rampPerS: number
  brokers: number
  warmS: number
  baselineS: number
  /** longest wait after the fault for the acknowledged rate to come back */
  observeS: number
  commandsPerS: number
  commandCars: number
  /** where logs and the cars' record files go */
  workDir: string
  /** Car i starts on broker brokerSlots[i mod n] and moves to the next slot's broker when it has
   *  to reconnect (the simulators' URL order); by default 0, 1, …, brokers − 1. */
  brokerSlots?: number[]
}

export const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))
const MB = 2 ** 20
const round1 = (x: number) => Math.round(x * 10) / 10
export const apiKey = `faults-operator-${Math.random().toString(36).slice(2)}-key`

export interface Sample {
  t: number
  acked: number
  connected: number
  brokerRssMB: Array<number | null>
  pending: Array<number | null>
  backpressure: Array<number | null>
  brokerCpuS: number
  kafkaCpuS: number
  scoresEnd?: number
  scorerLag?: number
}

export interface System {
  brokers: BrokerProcess[]
  /** Starts one more broker process (it joins the vehicle.commands group: a rebalance). */
  addBroker: () => Promise<BrokerProcess>
  /** Ends broker `i` with SIGTERM (a drain) and starts a new process on its MQTT port, as a
   *  rolling update replaces a pod behind the same Service. */
  replaceBroker: (i: number) => Promise<{ exitCode: number | null, drainedS: number, readyS: number }>
  api: ServiceProcess
  commanders: ServiceProcess[]
  scorers: ServiceProcess[]
  scorerGroup: string
  stop: () => Promise<void>
}

export async function startSystem (stack: FaultStack, o: RunOptions, name: string, s: { scorers?: number, commanders?: number, brokerEnv?: Record<string, string> } = {}): Promise<System> {
  const logDir = `${o.workDir}/logs/${name}`
  mkdirSync(logDir, { recursive: true })
  const id = `${name}-${Date.now().toString(36)}`
  const brokerEnv = { FLEET_LOG_LEVEL: 'info', FLEET_CONNECT_RATE_PER_S: '100000', ...s.brokerEnv }
  const brokers = await startBrokerProcesses(Array.from({ length: o.brokers }, (_, i) => `${id}-broker-${i}`), brokerEnv, { logFile: `${logDir}/brokers.log` })
  const env = { FLEET_LOG_LEVEL: 'info' }
  const api = await startServiceProcess('api', { logFile: `${logDir}/api.log`, env: { ...env, FLEET_API_KEYS: `faults:operator:${apiKey}`, FLEET_API_COMMAND_RATE_LIMIT_PER_MIN: '1000000', FLEET_API_RATE_LIMIT_PER_MIN: '10000000' } })
  const commanders = await Promise.all(Array.from({ length: s.commanders ?? 1 }, (_, i) => startServiceProcess('commander', {
    name: `commander-${i}`,
    logFile: `${logDir}/commander-${i}.log`,
    env: { ...env, FLEET_COMMANDER_ID: `${id}-commander-${i}`, FLEET_COMMANDER_GROUP: `${id}-commander` }
  })))
  const scorerGroup = `${id}-scorer`
  const scorers: ServiceProcess[] = []
  if ((s.scorers ?? 0) > 0) {
    await groupAtEnd(scorerGroup)
    for (let i = 0; i < s.scorers!; i++) {
      scorers.push(await startServiceProcess('scorer', {
        name: `scorer-${i}`,
        logFile: `${logDir}/scorer-${i}.log`,
        env: { ...env, FLEET_SCORER_GROUP_ID: scorerGroup, FLEET_SCORER_PUBLISH_SCORES: 'true', FLEET_SCORER_WATCH_MODEL: 'false' }
      }))
    }
  }
  return {
    brokers,
    async addBroker () {
      const [b] = await startBrokerProcesses([`${id}-broker-${brokers.length}`], brokerEnv, { logFile: `${logDir}/brokers.log` })
      brokers.push(b!)
      return b!
    },
    async replaceBroker (i) {
      const old = brokers[i]!
      const t0 = performance.now()
      const exitCode = await old.kill('SIGTERM')
      const t1 = performance.now()
      const [b] = await startBrokerProcesses([`${id}-broker-${i}-r${Math.round(t1)}`], brokerEnv, { logFile: `${logDir}/brokers.log`, mqttPort: old.mqttPort })
      brokers[i] = b!
      return { exitCode, drainedS: Math.round(t1 - t0) / 1000, readyS: Math.round(performance.now() - t1) / 1000 }
    },
    api,
    commanders,
    scorers,
    scorerGroup,
    async stop () {
      await Promise.all([api, ...commanders, ...scorers].map(p => p.kill('SIGTERM')))
      await Promise.all(brokers.map(b => b.kill('SIGTERM')))
    }
  }
}

export interface Load {
  prefix: string
  sims: SimFleet
  carId: (i: number) => string
  stop: () => Promise<ReturnType<typeof readSimRecords>>
}

const slotsOf = (o: RunOptions) => o.brokerSlots ?? Array.from({ length: o.brokers }, (_, i) => i)

export function startLoad (sys: System, o: RunOptions, prefix: string, extraEnv: Record<string, string> = {}): Load {
  const dir = `${o.workDir}/records`
  mkdirSync(dir, { recursive: true })
  const perProc = Math.ceil(o.cars / o.simProcs)
  const files = Array.from({ length: o.simProcs }, (_, i) => `${dir}/${prefix}-${i * perProc}.json`)
  const sims = startSimulators({
    urls: slotsOf(o).map(b => `mqtt://127.0.0.1:${sys.brokers[b]!.mqttPort}`),
    prefix,
    cars: o.cars,
    procs: o.simProcs,
    intervalMs: o.intervalMs,
    rampPerS: o.rampPerS,
    reportMs: 1_000,
    env: { FLEET_SIM_RECORD_FILE: `${dir}/${prefix}-{first}.json`, ...extraEnv }
  })
  return {
    prefix,
    sims,
    carId: i => `${prefix}-${String(i).padStart(5, '0')}`,
    async stop () {
      await sims.stop()
      return readSimRecords(files)
    }
  }
}

/** Records of vehicle.telemetry the scorer group has not committed yet. */
async function scorerLag (admin: Admin, groupId: string): Promise<number> {
  const end = sumOffsets(await endOffsets(admin, KafkaTopics.telemetry))
  const committed = await admin.fetchOffsets({ groupId, topics: [KafkaTopics.telemetry] })
  return end - committed[0]!.partitions.reduce((n, p) => n + Math.max(0, Number(p.offset)), 0)
}

/** Samples the run once a second. */
export function startTimeline (sys: System, stack: FaultStack, t0: number, sims: () => SimFleet | null) {
  const samples: Sample[] = []
  const cpu = (pid: number | undefined) => { try { return pid === undefined ? 0 : cpuSeconds(pid) } catch { return 0 } }
  let busy = false
  const timer = setInterval(() => {
    if (busy) return
    busy = true
    void (async () => {
      const metrics = await Promise.all(sys.brokers.map(b => b.child.exitCode === null && b.child.signalCode === null ? b.metrics().catch(() => null) : Promise.resolve(null)))
      const s: Sample = {
        t: round1((performance.now() - t0) / 1_000),
        acked: sims()?.acked() ?? 0,
        connected: sims()?.connected() ?? 0,
        brokerRssMB: sys.brokers.map(b => { try { return Math.round(rssBytes(b.child.pid!) / MB) } catch { return null } }),
        pending: metrics.map(m => m === null ? null : metricValue(m, 'fleet_broker_ingest_pending_records')),
        backpressure: metrics.map(m => m === null ? null : metricValue(m, 'fleet_broker_backpressure')),
        brokerCpuS: sys.brokers.reduce((n, b) => n + cpu(b.child.pid), 0),
        kafkaCpuS: cpu(stack.pid('kafka'))
      }
      if (sys.scorers.length > 0) {
        await withAdmin(async admin => {
          s.scoresEnd = sumOffsets(await endOffsets(admin, KafkaTopics.scores))
          s.scorerLag = await scorerLag(admin, sys.scorerGroup)
        }).catch(() => {})
      }
      samples.push(s)
    })().finally(() => { busy = false })
  }, 1_000)
  return { samples, stop: () => clearInterval(timer) }
}

/** Acknowledged msg/s over the `windowS` before each sample. */
export function rates (samples: Sample[], windowS = 2): Array<{ t: number, rate: number }> {
  const out: Array<{ t: number, rate: number }> = []
  for (let i = 0; i < samples.length; i++) {
    const j = samples.findIndex(s => s.t >= samples[i]!.t - windowS)
    if (j >= i) continue
    const a = samples[j]!
    const b = samples[i]!
    out.push({ t: b.t, rate: Math.round((b.acked - a.acked) / (b.t - a.t)) })
  }
  return out
}

export function meanRate (samples: Sample[], from: number, to: number): number {
  const w = samples.filter(s => s.t >= from && s.t <= to)
  if (w.length < 2) return 0
  return Math.round((w.at(-1)!.acked - w[0]!.acked) / (w.at(-1)!.t - w[0]!.t))
}

/**
 * Seconds from `from` until the acknowledged rate is back at ≥ 90 % of `baseline` and stays
 * there for `holdS`; 0 if it never fell below; null if it did not come back in the samples.
 */
export function recoverySeconds (samples: Sample[], baseline: number, from: number, holdS = 5): number | null {
  const r = rates(samples).filter(x => x.t >= from)
  const ok = (x: { rate: number }) => x.rate >= 0.9 * baseline
  for (let i = 0; i < r.length; i++) {
    if (!ok(r[i]!)) continue
    const stretch = r.filter(x => x.t >= r[i]!.t && x.t <= r[i]!.t + holdS)
    if (stretch.length > 0 && stretch.at(-1)!.t - r[i]!.t >= holdS - 1 && stretch.every(ok)) {
      // the 2 s window ending at r[i] already counts: the rate was back at its start
      const back = i === 0 ? from : Math.max(from, r[i]!.t - 2)
      return round1(back - from)
    }
  }
  return null
}

const percentiles = (samples: number[]) => ({ p50: pct(samples, 0.5), p99: pct(samples, 0.99), max: samples.length > 0 ? samples.at(-1)! : null, n: samples.length })

export interface FaultTimes {
  /** s since t0 */
  injectedAt: number
  /** s since t0: when the fault was lifted (= injectedAt for kills) */
  endedAt: number
  notes?: Record<string, unknown>
}

export interface Harness {
  o: RunOptions
  stack: FaultStack
  sys: System
  load: Load
  t0: number
  now: () => number
  commands: ReturnType<typeof createCommandSender>
  /** car indexes that started on broker `b` (car i starts on broker i mod n) */
  carsOnBroker: (b: number, count: number) => string[]
  log: (msg: string) => void
}

export interface ScenarioSpec {
  name: string
  title: string
  scorers?: number
  commanders?: number
  brokerEnv?: Record<string, string>
  inject: (h: Harness) => Promise<FaultTimes>
}

/** The standard run: load, baseline, fault, recovery, commands followed to the end, verdicts. */
export async function runFaultScenario (spec: ScenarioSpec, stack: FaultStack, o: RunOptions) {
  const log = (msg: string) => console.log(`[${spec.name}] ${msg}`)
  const start = await withAdmin(async admin => ({ telemetry: await endOffsets(admin, KafkaTopics.telemetry), scores: await endOffsets(admin, KafkaTopics.scores) }))
  log(`starting ${o.brokers} brokers, api, ${spec.commanders ?? 1} commander(s)${spec.scorers ? `, ${spec.scorers} scorers` : ''}`)
  const sys = await startSystem(stack, o, spec.name, spec)
  const prefix = `f-${spec.name}-${Date.now().toString(36)}`
  const t0 = performance.now()
  const now = () => round1((performance.now() - t0) / 1_000)
  const load = startLoad(sys, o, prefix)
  const timeline = startTimeline(sys, stack, t0, () => load.sims)
  const commands = createCommandSender(`http://127.0.0.1:${sys.api.port}`, apiKey, t0)
  let stopped = false
  try {
    log(`ramping ${o.cars} cars (${o.simProcs} simulator processes, one message per ${o.intervalMs} ms each)`)
    const rampDeadline = performance.now() + (o.cars / o.rampPerS + 60) * 1_000
    await load.sims.untilConnected(o.cars, rampDeadline)
    log(`${load.sims.connected()} connected at ${now()} s; warming ${o.warmS} s, baseline ${o.baselineS} s`)
    await sleep(o.warmS * 1_000)
    const baselineFrom = now()
    let phase = 'before'
    const sample = Array.from({ length: Math.min(o.commandCars, o.cars) }, (_, k) => load.carId(Math.floor(k * o.cars / Math.min(o.commandCars, o.cars))))
    commands.startStream(sample, o.commandsPerS, () => phase)
    await sleep(o.baselineS * 1_000)
    const baselineTo = now()
    const baseline = meanRate(timeline.samples, baselineFrom, baselineTo)
    phase = 'during'
    log(`baseline ${baseline} acked msg/s; injecting`)
    const h: Harness = {
      o,
      stack,
      sys,
      load,
      t0,
      now,
      commands,
      log,
      carsOnBroker: (b, count) => carsStartingOn(slotsOf(o), o.cars, b, count).map(load.carId)
    }
    const fault = await spec.inject(h)
    phase = 'after'
    log(`fault over at ${fault.endedAt} s; observing up to ${o.observeS} s`)
    let recoverS: number | null = null
    const observeUntil = performance.now() + o.observeS * 1_000
    while (performance.now() < observeUntil) {
      await sleep(1_000)
      recoverS = recoverySeconds(timeline.samples, baseline, fault.endedAt)
      if (recoverS !== null && now() > fault.endedAt + recoverS + 10) break
    }
    commands.stopStream()
    log(`recovered in ${recoverS ?? 'n/a'} s; following ${commands.sent.filter(c => c.commandId).length} accepted commands to their end`)
    await commands.awaitFinal(performance.now() + 60_000)
    if (sys.scorers.length > 0) {
      log('waiting for the scorers to catch up')
      const deadline = performance.now() + 60_000
      while (performance.now() < deadline && (timeline.samples.at(-1)?.scorerLag ?? 1) > 0) await sleep(1_000)
    }
    log('stopping the load')
    const records = await load.stop()
    stopped = true
    await sleep(1_500) // the last samples after the cars stopped
    timeline.stop()
    if (sys.scorers.length > 0) {
      const deadline = performance.now() + 60_000
      while (performance.now() < deadline) {
        const lag = await withAdmin(admin => scorerLag(admin, sys.scorerGroup))
        if (lag <= 0) break
        await sleep(1_000)
      }
    }
    await sys.stop()

    log('reading vehicle.telemetry back')
    const inKafka = new SeqCounts()
    await readTopic(KafkaTopics.telemetry, start.telemetry, k => k.startsWith(prefix), (k, v, ts) => inKafka.addRecord(k, v, ts))
    const telemetry = judgeTelemetry(records.acked, inKafka)
    let scoring: Record<string, unknown> | undefined
    if (sys.scorers.length > 0) {
      const scored = new SeqCounts()
      await readTopic(KafkaTopics.scores, start.scores, k => k.startsWith(prefix), (k, v, ts) => scored.addRecord(k, v, ts))
      let unscored = 0
      const sampleUnscored: string[] = []
      for (const [car, counts] of inKafka.cars) {
        counts.forEach((n, seq) => {
          if (n === undefined || scored.count(car, seq) > 0) return
          unscored++
          if (sampleUnscored.length < 10) sampleUnscored.push(`${car}/${seq}`)
        })
      }
      scoring = { telemetryRecords: inKafka.unique, scores: scored.records, unscored, sampleUnscored, scoredMoreThanOnce: scored.records - scored.unique }
    }
    const s = timeline.samples
    // PUBACKs held during the fault complete just after it: the window runs at least 10 s past its end.
    const windowEnd = fault.endedAt + Math.max(recoverS ?? o.observeS, 10)
    const during = load.sims.window(t0 + fault.injectedAt * 1_000, t0 + windowEnd * 1_000)
    const before = load.sims.window(t0 + baselineFrom * 1_000, t0 + baselineTo * 1_000)
    const inFault = s.filter(x => x.t >= fault.injectedAt && x.t <= windowEnd)
    const maxOf = (xs: Array<number | null>) => Math.max(0, ...xs.filter((x): x is number => x !== null))
    const result = {
      scenario: spec.name,
      title: spec.title,
      prefix,
      fault,
      telemetry,
      throughput: {
        baselineAckedPerS: baseline,
        lowestAckedPerS: Math.min(...rates(s).filter(r => r.t >= fault.injectedAt && r.t <= windowEnd).map(r => r.rate)),
        recoverS,
        recoverFrom: fault.endedAt === fault.injectedAt ? 'injection' : 'fault end'
      },
      cars: {
        disconnects: records.stats.disconnects ?? 0,
        reconnects: records.stats.reconnects ?? 0,
        errors: records.stats.errors ?? 0,
        connackRefused: records.stats.connackRefused ?? 0,
        // a command received again: with the DUP flag (resent because its PUBACK was not read before
        // the connection ended; QoS 1 allows it, the car dedupes by commandId) or without (a second delivery)
        commandRepeats: records.stats.commandRepeats ?? 0,
        commandRepeatsDup: records.stats.commandRepeatsDup ?? 0,
        reconnectMs: percentiles(records.reconnectGapsMs.sort((a, b) => a - b)),
        minConnected: inFault.length > 0 ? Math.min(...inFault.map(x => x.connected)) : null,
        pubackMsBefore: percentiles(before.samples),
        pubackMsDuringFault: percentiles(during.samples)
      },
      commands: judgeCommands(commands.sent, records.commands),
      brokers: {
        rssMBAtBaseline: s.find(x => x.t >= baselineFrom)?.brokerRssMB ?? null,
        rssMBMax: sys.brokers.map((_, i) => maxOf(s.map(x => x.brokerRssMB[i] ?? null))),
        pendingRecordsMax: sys.brokers.map((_, i) => maxOf(s.map(x => x.pending[i] ?? null))),
        backpressureSeen: s.some(x => x.backpressure.some(b => b === 1))
      },
      scoring,
      timeline: s.map((x, i) => ({ t: x.t, ackedPerS: i === 0 ? 0 : Math.round((x.acked - s[i - 1]!.acked) / (x.t - s[i - 1]!.t)), connected: x.connected, brokerRssMB: x.brokerRssMB, pending: x.pending, ...(x.scorerLag === undefined ? {} : { scorerLag: x.scorerLag, scoresEnd: x.scoresEnd }) }))
    }
    return result
  } finally {
    commands.stopStream()
    timeline.stop()
    if (!stopped) await load.sims.stop().catch(() => {})
    await sys.stop().catch(() => {})
  }
}

export type ScenarioResult = Awaited<ReturnType<typeof runFaultScenario>>
