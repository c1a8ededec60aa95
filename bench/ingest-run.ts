// One ingest measurement: B broker processes with Kafka ingest (or, as a peer, one Debian
// Mosquitto that writes nowhere), L mqtt.js load processes (cars spread over the servers), QoS 1
// telemetry for a fixed time. Besides the servers' CPU it measures the load processes', Kafka's
// and the whole machine's over the same window, so a figure shows what bound it (a load process
// at one full core bounds the server's figure too). Used by bench:ingest and bench:cluster.
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { startBrokerProcesses } from '../test/helpers/broker-process.js'
import { startMosquitto } from '../test/helpers/mosquitto.js'
import { cpuSeconds, cpuSecondsOr0, machineBusySeconds, rssBytes, stackPid } from './proc-stats.js'

export interface IngestRun {
  brokers: number
  cars: number
  inflight: number
  durationS: number
  loadProcs: number
  brokerEnv?: Record<string, string>
  /** Node flags of the broker processes (bench:ingest's CPU_PROF=dir gives --cpu-prof). */
  brokerNodeArgs?: string[]
  label: string
  /** Another checkout whose broker to run (a baseline measured in the same run). */
  brokerRoot?: string
  /** 'fleet' (default): fleet broker processes writing to Kafka; 'mosquitto': one Mosquitto process. */
  server?: 'fleet' | 'mosquitto'
}

interface Server { mqttPort: number, child: ChildProcess, kill: (signal?: NodeJS.Signals) => Promise<unknown>, metrics?: () => Promise<string> }

export interface IngestResult {
  label: string
  params: Omit<IngestRun, 'brokerEnv' | 'label' | 'brokerNodeArgs' | 'brokerRoot'> & { brokerEnv: Record<string, string> }
  ackedPerSecond: number
  acked: number
  errors: number
  pubackMs: { p50: number, p99: number }
  brokers: Array<{ cpuCores: number, rssIdleMB: number, rssPeakMB: number }>
  redisCpuCores: number | null
  /** Telemetry records Kafka acknowledged to fleet's brokers over the whole run (null for a peer):
   *  at least `pubacksAll`, since a PUBACK follows its record's acknowledgement. */
  kafkaRecordsAcked: number | null
  /** PUBACKs the cars got over the whole run, warm-up included. */
  pubacksAll: number
  /** fleet's Kafka produce requests over the whole run: how many, their mean time to
   *  acknowledgement and mean records each (null for a peer). */
  produce: { requests: number, meanMs: number, meanRecords: number } | null
  /** Where the machine's CPU went over the measured window (cores): the server's share is above. */
  cpu: { loadGeneratorCores: number, kafkaCores: number, machineBusyCores: number }
}

const root = new URL('..', import.meta.url).pathname
const MB = 2 ** 20

export async function runIngest (run: IngestRun, redisPid?: number): Promise<IngestResult> {
  const tag = run.label.replace(/[^A-Za-z0-9]+/g, '-')
  const brokers: Server[] = run.server === 'mosquitto'
    ? [await startMosquitto()].map(m => ({ mqttPort: m.port, child: m.child, kill: m.stop }))
    : await startBrokerProcesses(Array.from({ length: run.brokers }, (_, i) => `bench-${tag}-${i}`),
      // each bench car sends as fast as PUBACKs come (hundreds/s): far over the per-car publish rate
      // a real car gets, which would measure the limit, not the path; the bucket still runs per message
      { FLEET_CONNECT_RATE_PER_S: '100000', FLEET_CAR_PUBLISH_RATE_PER_S: '10000000', FLEET_CAR_PUBLISH_BURST: '10000000', ...run.brokerEnv }, { nodeArgs: run.brokerNodeArgs ?? [], ...(run.brokerRoot === undefined ? {} : { root: run.brokerRoot }) })
  try {
    return await measure(run, tag, brokers, redisPid)
  } finally {
    await Promise.all(brokers.map(b => b.kill('SIGTERM')))
  }
}

async function measure (run: IngestRun, tag: string, brokers: Server[], redisPid?: number): Promise<IngestResult> {
  const rssIdle = brokers.map(b => rssBytes(b.child.pid!))
  const perProc = Math.ceil(run.cars / run.loadProcs)
  const loadPids: number[] = []
  const kafkaPid = stackPid('kafka')
  const loads = Array.from({ length: run.loadProcs }, (_, i) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/ingest-load.ts'], {
      cwd: root,
      env: { ...process.env, PORT: String(brokers[i % brokers.length]!.mqttPort), CARS: String(perProc), INFLIGHT: String(run.inflight), DURATION_S: String(run.durationS), PREFIX: `bench-${tag}-${i}` },
      stdio: ['ignore', 'pipe', 'inherit']
    })
    let out = ''
    child.stdout!.on('data', d => { out += d })
    loadPids.push(child.pid!)
    return new Promise<{ acked: number, ackedAll: number, errors: number, elapsedS: number, p50: number, p99: number }>((resolve, reject) =>
      child.on('exit', code => code === 0 ? resolve(JSON.parse(out.trim().split('\n').at(-1)!)) : reject(new Error(`load process exited with ${code}`))))
  })
  // CPU over the measured window (the load warms up for 3 s first)
  await new Promise(resolve => setTimeout(resolve, 3_500))
  const pids = brokers.map(b => b.child.pid!)
  const cpu0 = pids.map(cpuSeconds)
  const redis0 = redisPid === undefined ? 0 : cpuSeconds(redisPid)
  const others0 = { load: loadPids.reduce((n, p) => n + cpuSecondsOr0(p), 0), kafka: cpuSecondsOr0(kafkaPid), busy: machineBusySeconds() }
  const t0 = performance.now()
  const rssPeak = pids.map(rssBytes)
  const sampler = setInterval(() => pids.forEach((p, i) => { rssPeak[i] = Math.max(rssPeak[i]!, rssBytes(p)) }), 500)
  await new Promise(resolve => setTimeout(resolve, (run.durationS - 1) * 1_000))
  const secs = (performance.now() - t0) / 1_000
  const cpu = pids.map((p, i) => (cpuSeconds(p) - cpu0[i]!) / secs)
  const redisCpu = redisPid === undefined ? null : (cpuSeconds(redisPid) - redis0) / secs
  const cpuElsewhere = {
    loadGeneratorCores: round((loadPids.reduce((n, p) => n + cpuSecondsOr0(p), 0) - others0.load) / secs),
    kafkaCores: round((cpuSecondsOr0(kafkaPid) - others0.kafka) / secs),
    machineBusyCores: round((machineBusySeconds() - others0.busy) / secs)
  }
  clearInterval(sampler)
  const results = await Promise.all(loads)
  const acked = results.reduce((n, r) => n + r.acked, 0)
  let kafkaRecordsAcked: number | null = null
  let produce: IngestResult['produce'] = null
  if (run.server !== 'mosquitto') {
    kafkaRecordsAcked = 0
    const sums = { seconds: 0, requests: 0, records: 0 }
    for (const b of brokers) {
      const text = await b.metrics!()
      const value = (re: RegExp) => Number(re.exec(text)?.[1] ?? 0)
      kafkaRecordsAcked += value(/^fleet_broker_kafka_records_acked_total\{[^}]*topic="vehicle\.telemetry"[^}]*\} (\d+)/m)
      sums.seconds += value(/^fleet_broker_kafka_produce_seconds_sum\{[^}]*\} ([\d.e+-]+)/m)
      sums.requests += value(/^fleet_broker_kafka_produce_seconds_count\{[^}]*\} (\d+)/m)
      sums.records += value(/^fleet_broker_kafka_batch_records_sum\{[^}]*\} (\d+)/m)
    }
    produce = sums.requests === 0 ? null : { requests: sums.requests, meanMs: round(sums.seconds / sums.requests * 1_000), meanRecords: Math.round(sums.records / sums.requests) }
  }
  const { brokerEnv = {}, label, server: _server, brokerNodeArgs: _args, brokerRoot: _root, ...params } = run
  return {
    label,
    params: { ...params, brokerEnv },
    ackedPerSecond: Math.round(acked / Math.max(...results.map(r => r.elapsedS))),
    acked,
    errors: results.reduce((n, r) => n + r.errors, 0),
    pubackMs: { p50: round(Math.max(...results.map(r => r.p50))), p99: round(Math.max(...results.map(r => r.p99))) },
    brokers: cpu.map((c, i) => ({ cpuCores: round(c), rssIdleMB: Math.round(rssIdle[i]! / MB), rssPeakMB: Math.round(rssPeak[i]! / MB) })),
    redisCpuCores: redisCpu === null ? null : round(redisCpu),
    kafkaRecordsAcked,
    pubacksAll: results.reduce((n, r) => n + r.ackedAll, 0),
    produce,
    cpu: cpuElsewhere
  }
}

const round = (n: number) => Math.round(n * 100) / 100

export function describe (r: IngestResult): string {
  const b = r.brokers.map(x => `${x.cpuCores} cores ${x.rssIdleMB}→${x.rssPeakMB} MB`).join(', ')
  return `${r.label}: ${r.ackedPerSecond} acknowledged msg/s (${r.params.cars} cars × ${r.params.inflight} in flight, ${r.params.brokers} broker(s), ${r.params.durationS} s), PUBACK p50 ${r.pubackMs.p50} ms p99 ${r.pubackMs.p99} ms, brokers [${b}]${r.redisCpuCores === null ? '' : `, redis ${r.redisCpuCores} cores`}, load generator ${r.cpu.loadGeneratorCores} cores, Kafka ${r.cpu.kafkaCores} cores, machine busy ${r.cpu.machineBusyCores} cores, errors ${r.errors}${r.kafkaRecordsAcked === null ? '' : `, records Kafka acknowledged ${r.kafkaRecordsAcked} ≥ PUBACKs ${r.pubacksAll} (whole run)`}${r.produce === null ? '' : `, ${r.produce.requests} produce requests of ${r.produce.meanRecords} records, ${r.produce.meanMs} ms each`}`
}
