// A simulated fleet: cars that connect with their own credentials and a persistent session,
// publish telemetry at QoS 1 on an interval, and acknowledge the commands they receive.
// Counts and PUBACK latencies are kept for reports (npm start, loadtest:local). For fault tests it
// can also record which (car, seq) got a PUBACK and which commands each car received
// (FLEET_SIM_RECORD_FILE), and mix schema-invalid telemetry in (FLEET_SIM_INVALID_PCT).
import { writeFile } from 'node:fs/promises'
import mqtt, { type MqttClient } from 'mqtt'
import { LeanClient } from './lean-client.js'
import type { Command } from '../../shared/src/command-schema.js'
import { ConfigError } from '../../shared/src/config.js'
import type { Logger } from '../../shared/src/logger.js'
import { seededRandom } from '../../shared/src/seeded-random.js'
import { createVehicle } from '../../shared/src/vehicle-model.js'
import { MqttTopics } from '../../shared/src/topics.js'
import { provisionForLoad, readCredentialsFile } from '../../shared/src/load-credentials.js'
import { failureOf } from './failures.js'
import type { SimulatorConfig } from './simulator-config.js'

export interface SimulatorStats {
  connected: number
  published: number
  acked: number
  errors: number
  commandsAnswered: number
  /** Connections lost (a 'close' of a connected car). */
  disconnects: number
  /** Connections made again after a car's first. */
  reconnects: number
  /** Commands received again with a commandId the car had already seen. */
  commandRepeats: number
  /** Repeats that came with the DUP flag: the broker resending a delivery whose PUBACK it never read (QoS 1 allows it) */
  commandRepeatsDup: number
  /** Connection attempts refused with a CONNACK code (3: a pod full, over its connect rate or without Redis). */
  connackRefused: number
  /** Schema-invalid telemetry sent and acknowledged (FLEET_SIM_INVALID_PCT); not in published/acked. */
  invalidPublished: number
  invalidAcked: number
  /** PUBACK latencies (ms) of valid telemetry since the last `takeLatencies()`. */
  takeLatencies: () => number[]
}

export interface Simulator {
  start: () => Promise<void>
  stop: () => Promise<void>
  stats: SimulatorStats
}

/** What FLEET_SIM_RECORD_FILE holds: per car its acknowledged seqs as [first, last] runs, per commandId how often it arrived. */
export interface SimulatorRecord {
  acked: Record<string, Array<[number, number]>>
  commands: Record<string, number>
  stats: Omit<SimulatorStats, 'takeLatencies'>
  /** ms from each lost connection to the next CONNACK 0 (includes the car's 2–3 s reconnect delay) */
  reconnectGapsMs?: number[]
}

/** At most `n` values spread evenly over the sorted `values`, to two decimals. */
function evenSample (values: number[], n: number): number[] {
  const step = Math.max(1, values.length / n)
  const out: number[] = []
  for (let k = 0; k < values.length; k += step) out.push(Math.round(values[Math.floor(k)]! * 100) / 100)
  return out
}

/** Sorted, de-duplicated seqs as [first, last] runs. */
export function toRuns (seqs: number[]): Array<[number, number]> {
  const sorted = [...seqs].sort((a, b) => a - b)
  const runs: Array<[number, number]> = []
  for (const s of sorted) {
    const last = runs.at(-1)
    if (last !== undefined && s <= last[1] + 1) last[1] = Math.max(last[1], s)
    else runs.push([s, s])
  }
  return runs
}

export function createSimulator (config: SimulatorConfig, deps: { log: Logger }): Simulator {
  const { log } = deps
  if (config.client === 'lean') {
    const ws = config.mqttUrls.find(u => !u.startsWith('mqtt://'))
    if (ws !== undefined) throw new ConfigError([`FLEET_SIM_MQTT_URL: ${ws}: FLEET_SIM_CLIENT=lean speaks MQTT over TCP only (mqtt:// URLs)`])
  }
  const plan = { seed: config.seed, failingPct: config.failingPct, modes: config.failureModes, onsetMaxS: config.failureOnsetMaxS, developS: config.failureDevelopS }
  const cars: Array<{ client: MqttClient, timer: NodeJS.Timeout | null }> = []
  let latencies: number[] = []
  const online = new Set<string>()
  const reconnectGapsMs: number[] = []
  const record = config.recordFile !== ''
  const ackedSeqs = new Map<string, number[]>()
  const received = new Map<string, number>()
  // Invalid messages are added on top: for p % of all, p / (100 - p) per valid message.
  const invalidPerValid = config.invalidPct / (100 - config.invalidPct)
  let stopped = false
  let reporter: NodeJS.Timeout | null = null
  const stats: SimulatorStats = {
    connected: 0,
    published: 0,
    acked: 0,
    errors: 0,
    commandsAnswered: 0,
    disconnects: 0,
    reconnects: 0,
    commandRepeats: 0,
    commandRepeatsDup: 0,
    connackRefused: 0,
    invalidPublished: 0,
    invalidAcked: 0,
    takeLatencies: () => {
      const l = latencies
      latencies = []
      return l
    }
  }

  const carId = (index: number) => `${config.idPrefix}-${String(index).padStart(5, '0')}`
  let passwords = new Map<string, string>()

  function startCar (index: number): void {
    const id = carId(index)
    const rnd = seededRandom(config.seed * 1_000_003 + index)
    // The shared car model (drive cycles, correlated signals): what the scorer's model learned
    // normal driving to be, so a healthy simulated fleet does not look anomalous.
    // Some of them develop a failure (FLEET_SIM_FAILING_PCT), for the scorer to find.
    const failure = failureOf(index, plan)
    const vehicle = createVehicle({ vehicleId: id, seed: config.seed * 1_000_003 + index, failure })
    // Several URLs stand for several broker pods behind one Service: the car starts on its own
    // and, like a car behind a load balancer, lands on another one when it has to reconnect.
    const urls = config.mqttUrls.map(u => new URL(u))
    const servers = urls.map((_, k) => urls[(index + k) % urls.length]!).map(u => ({ host: u.hostname, port: Number(u.port || (u.protocol === 'ws:' ? 80 : 1883)), protocol: u.protocol.replace(':', '') as 'mqtt' | 'ws' }))
    const connectOpts = {
      clientId: id,
      username: id,
      password: passwords.get(id) ?? '',
      clean: false,
      keepalive: 60,
      reconnectPeriod: 2_000 + Math.floor(rnd.next() * 1_000),
      connectTimeout: 30_000
    }
    // Both offer what the car logic below uses; the lean one takes TCP servers only (checked at start).
    const client = (config.client === 'lean'
      ? new LeanClient({ ...connectOpts, servers })
      // A car refused with a CONNACK code (3 while the broker's Redis is away) tries again later,
      // as the lean client does; mqtt.js would otherwise stop reconnecting for good.
      : mqtt.connect({ ...connectOpts, servers, protocolVersion: 4, reconnectOnConnackError: true })) as MqttClient
    const car = { client, timer: null as NodeJS.Timeout | null }
    cars.push(car)
    const acked: number[] = []
    if (record) ackedSeqs.set(id, acked)
    let connects = 0
    let lostAt = 0
    client.on('connect', () => {
      if (connects++ > 0) stats.reconnects++
      if (lostAt > 0 && reconnectGapsMs.length < 1_000_000) reconnectGapsMs.push(Math.round(performance.now() - lostAt))
      lostAt = 0
      online.add(id)
      stats.connected = online.size
      client.subscribe(MqttTopics.commands(id), { qos: 1 })
      if (car.timer === null) {
        // Spread the cars over the interval so the load is even.
        setTimeout(() => {
          if (stopped) return
          car.timer = setInterval(() => publish(), config.intervalMs)
        }, Math.floor(rnd.next() * config.intervalMs))
      }
    })
    client.on('close', () => {
      if (online.has(id) && !stopped) {
        stats.disconnects++
        lostAt = performance.now()
      }
      online.delete(id)
      stats.connected = online.size
    })
    client.on('error', err => {
      if (typeof (err as { code?: unknown }).code === 'number') stats.connackRefused++
      stats.errors++
      log.debug({ vehicleId: id, err: err.message }, 'car connection error')
    })
    client.on('message', (_topic, payload, packet?: { dup?: boolean }) => {
      let cmd: Command
      try {
        cmd = JSON.parse(payload.toString())
      } catch {
        return
      }
      const seen = received.get(cmd.commandId) ?? 0
      if (seen > 0) {
        stats.commandRepeats++
        if (packet?.dup === true) stats.commandRepeatsDup++
      }
      received.set(cmd.commandId, seen + 1)
      stats.commandsAnswered++
      client.publish(MqttTopics.commandAck(id), JSON.stringify({ commandId: cmd.commandId, result: 'ok' }), { qos: 1 })
    })
    const publish = () => {
      if (!client.connected) return
      const t0 = performance.now()
      stats.published++
      const msg = vehicle.next(config.intervalMs / 1_000, Date.now())
      client.publish(MqttTopics.telemetry(id), JSON.stringify(msg), { qos: 1 }, err => {
        if (err) {
          stats.errors++
          return
        }
        stats.acked++
        if (record) acked.push(msg.seq)
        latencies.push(performance.now() - t0)
      })
      if (invalidPerValid > 0) {
        // As large as a valid message, refused by the schema (a string where a number belongs).
        let n = Math.floor(invalidPerValid) + (rnd.next() < invalidPerValid % 1 ? 1 : 0)
        while (n-- > 0) {
          stats.invalidPublished++
          client.publish(MqttTopics.telemetry(id), JSON.stringify({ ...msg, speedMps: 'invalid' }), { qos: 1 }, err => {
            if (err) stats.errors++
            else stats.invalidAcked++
          })
        }
      }
    }
  }

  return {
    stats,
    async start () {
      if (config.reportEveryMs > 0) {
        let lastAcked = 0
        reporter = setInterval(() => {
          const l = stats.takeLatencies().sort((a, b) => a - b)
          const q = (p: number) => l.length === 0 ? null : Math.round(l[Math.min(l.length - 1, Math.floor(p * l.length))]! * 10) / 10
          const { takeLatencies: _, ...counts } = stats
          const figures = { ...counts, ackedPerS: Math.round((stats.acked - lastAcked) / (config.reportEveryMs / 1_000)), pubackP50Ms: q(0.5), pubackP99Ms: q(0.99) }
          // An even sample of the window's latencies, so a load test can merge simulators' figures.
          log.info(config.reportSamples ? { ...figures, pubackSampleMs: evenSample(l, 500) } : figures, 'fleet')
          lastAcked = stats.acked
        }, config.reportEveryMs)
        reporter.unref()
      }
      const first = config.firstCar
      const last = first + config.cars
      const ids = Array.from({ length: config.cars }, (_, k) => carId(first + k))
      passwords = config.credentialsFile !== '' ? readCredentialsFile(config.credentialsFile) : await provisionForLoad(config, ids)
      const perTick = Math.max(1, Math.round(config.rampPerSecond / 10))
      for (let i = first; i < last && !stopped; i += perTick) {
        for (let j = i; j < Math.min(last, i + perTick); j++) startCar(j)
        await new Promise(resolve => setTimeout(resolve, 100))
      }
      const failing = Array.from({ length: config.cars }, (_, k) => failureOf(config.firstCar + k, plan)).filter(f => f !== null).length
      log.info({ cars: config.cars, failing, urls: config.mqttUrls }, 'simulated fleet started')
    },
    async stop () {
      stopped = true
      if (reporter !== null) clearInterval(reporter)
      for (const car of cars) if (car.timer !== null) clearInterval(car.timer)
      // A graceful end waits for PUBACKs in flight; a car whose broker is gone would wait forever.
      await Promise.race([
        Promise.all(cars.map(c => c.client.endAsync().catch(() => {}))),
        new Promise(resolve => setTimeout(resolve, 10_000).unref())
      ])
      for (const c of cars) c.client.end(true)
      if (record) {
        const { takeLatencies: _, ...counts } = stats
        const out: SimulatorRecord = {
          acked: Object.fromEntries([...ackedSeqs].map(([id, seqs]) => [id, toRuns(seqs)])),
          commands: Object.fromEntries(received),
          stats: counts,
          reconnectGapsMs
        }
        const file = config.recordFile.replaceAll('{first}', String(config.firstCar))
        await writeFile(file, JSON.stringify(out))
        log.info({ file, cars: ackedSeqs.size, commands: received.size }, 'record written')
      }
    }
  }
}
