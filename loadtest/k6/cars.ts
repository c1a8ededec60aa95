// Simulated cars for k6 (built by scripts/build-k6.sh, with k6/x/mqtt): ramps to CARS cars, each
// with its own credentials and persistent session, publishing telemetry at QoS 1 every INTERVAL_MS
// and acknowledging the commands it receives. One VU drives CARS_PER_VU cars, so 100k cars need
// 2,000 VUs, not 100k. Car k (global, 0-based) is `k6-car-{CAR_OFFSET + k + 1, 5 digits}` and
// connects at k / CARS of the ramp, so instances running execution segments of the same test
// (k6-operator, --execution-segment) together ramp exactly like one instance would. A car whose
// connect fails keeps trying; STORM_AT drops every connection at once (a reconnect storm); each
// runner writes a mergeable summary (SUMMARY_DIR) that cmd/k6-verdict judges for the whole fleet.
import { SharedArray } from 'k6/data'
import exec from 'k6/execution'
import { Counter, Rate, Trend } from 'k6/metrics'
import { clearInterval, setInterval, setTimeout } from 'k6/timers'
import { Client, histograms, phase, record } from 'k6/x/mqtt'
import { createCar } from './car-telemetry.ts'

const str = (name: string, fallback: string): string => __ENV[name] || fallback
const num = (name: string, fallback: number): number => {
  const raw = __ENV[name]
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name}=${raw} is not a number >= 0`)
  return n
}
/** "90", "90s", "2m", "1h" → seconds. */
const seconds = (name: string, fallback: string): number => {
  const raw = str(name, fallback)
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(raw)
  if (m === null) throw new Error(`${name}=${raw} is not a duration (e.g. 30s, 5m)`)
  return Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h']
}

const HOST = str('FLEET_MQTT_HOST', '127.0.0.1')
const PORT = num('FLEET_MQTT_PORT', 1883)
/** `vehicleId<TAB>password` lines, read once at init (npm run provision -- --bulk …; k6-smoke.sh makes it). */
const CREDENTIALS_FILE = str('CREDENTIALS_FILE', '')
const CARS = Math.max(1, Math.floor(num('CARS', 500)))
const CARS_PER_VU = Math.max(1, Math.floor(num('CARS_PER_VU', 50)))
const CAR_OFFSET = Math.floor(num('CAR_OFFSET', 0))
const ID_PREFIX = str('ID_PREFIX', 'k6-car')
const INTERVAL_MS = Math.max(10, num('INTERVAL_MS', 1_000))
const RAMP_S = seconds('RAMP', '30s')
const HOLD_S = seconds('DURATION', '60s')
const CLEAN_SESSION = str('CLEAN_SESSION', 'false') === 'true'
const MAX_INFLIGHT = Math.max(1, Math.floor(num('MAX_INFLIGHT_PER_CAR', 16)))
const PUBLISH_TIMEOUT_MS = num('PUBLISH_TIMEOUT_MS', 10_000)
/** Source addresses to spread cars over (one address reaches one broker with ~28k cars at most). */
const SOURCE_ADDRESSES = str('SOURCE_ADDRESSES', '').split(',').map(a => a.trim()).filter(a => a !== '')
/** MQTT over TLS: the CA (PEM file) the broker's certificate must chain to, and the name it must carry. */
const TLS_CA_FILE = str('TLS_CA_FILE', '')
const TLS = TLS_CA_FILE === '' ? undefined : { ca: open(TLS_CA_FILE), ...(__ENV.TLS_SERVER_NAME ? { serverName: __ENV.TLS_SERVER_NAME } : {}) }
/** Reconnect storm: STORM_AT seconds after the ramp every car's connection is dropped; each car comes back within STORM_SPREAD. */
const STORM_AT_S = __ENV.STORM_AT ? seconds('STORM_AT', '0s') : null
const STORM_SPREAD_S = seconds('STORM_SPREAD', '5s')
/** Where handleSummary writes this runner's mergeable summary (cmd/k6-verdict reads the directory). */
const SUMMARY_DIR = str('SUMMARY_DIR', '')
const LIMITS: Record<string, number> = {
  cars: CARS,
  minOnlineRate: num('MIN_ONLINE_RATE', 0.99),
  maxConnectErrors: num('MAX_CONNECT_ERRORS', 0),
  maxLost: num('MAX_LOST', num('MAX_CONNECT_ERRORS', 0)),
  maxErrorRate: num('MAX_ERROR_RATE', 0.001),
  pubackP95Ms: num('PUBACK_P95_MS', 100),
  pubackP99Ms: num('PUBACK_P99_MS', 250),
  ...(STORM_AT_S === null ? {} : { stormReconnectP99Ms: num('STORM_RECONNECT_P99_MS', 30_000), stormPubackP99Ms: num('STORM_PUBACK_P99_MS', 2_000) })
}

export const options = {
  scenarios: {
    cars: {
      executor: 'per-vu-iterations',
      vus: Math.ceil(CARS / CARS_PER_VU),
      iterations: 1,
      // Ramp and hold, plus time to connect the last cars and collect the last PUBACKs.
      maxDuration: `${Math.ceil(RAMP_S + HOLD_S + 30 + PUBLISH_TIMEOUT_MS / 1_000)}s`,
      gracefulStop: '10s'
    }
  },
  // This runner's share; a distributed run's verdict is cmd/k6-verdict over every runner's summary.
  thresholds: {
    mqtt_connect_errors: [`count<=${LIMITS.maxConnectErrors}`],
    cars_connection_lost: [`count<=${LIMITS.maxLost}`],
    telemetry_failed: [`rate<=${LIMITS.maxErrorRate}`],
    // PUBACKs are tagged storm:true while a car dropped by the storm is not back yet (k6/x/mqtt):
    // the product's latency targets hold outside the storm, the storm has its own limit.
    'mqtt_puback_duration{storm:false}': [`p(95)<${LIMITS.pubackP95Ms}`, `p(99)<${LIMITS.pubackP99Ms}`],
    cars_online: [`rate>=${LIMITS.minOnlineRate}`],
    ...(STORM_AT_S === null ? {} : { storm_cars_back: [`rate>=${LIMITS.minOnlineRate}`], storm_reconnect_duration: [`p(99)<${LIMITS.stormReconnectP99Ms}`], 'mqtt_puback_duration{storm:true}': [`p(99)<${LIMITS.stormPubackP99Ms}`] })
  },
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max', 'count'],
  // Per-VU tags would make a time series per car group; the summary needs none.
  systemTags: ['scenario']
}

/** Telemetry publishes that got no PUBACK (refused, timed out, connection lost). */
const telemetryFailed = new Rate('telemetry_failed')
/** Ticks a car skipped: MAX_INFLIGHT_PER_CAR messages still unacknowledged, or the car offline. */
const telemetrySkipped = new Counter('telemetry_skipped')
/** Per car, at the end: 1 if it connected and subscribed to its commands during the test, 0 if never. */
const carsOnline = new Rate('cars_online')
const commandsAnswered = new Counter('car_commands_answered')
const carsReconnected = new Counter('cars_reconnected')
/** Connections lost that the test did not cause (the storm's drops are not counted). */
const carsConnectionLost = new Counter('cars_connection_lost')
/** Per car dropped by the storm: 1 if it was back (connected, subscribed) before the end. */
const stormCarsBack = new Rate('storm_cars_back')
/** Telemetry in flight (no PUBACK yet) when the storm dropped its car. */
const stormUnacked = new Counter('storm_telemetry_unacked')
/** Storm drop → connected and subscribed again. */
const stormReconnect = new Trend('storm_reconnect_duration', true)

const vehicleId = (index: number) => `${ID_PREFIX}-${String(CAR_OFFSET + index + 1).padStart(5, '0')}`
// Each car's own provisioned credential (none can be derived from a fleet-wide key), read once per
// runner (a SharedArray, not a copy per VU: 100,000 lines are ~6 MB).
if (CREDENTIALS_FILE === '') throw new Error('CREDENTIALS_FILE is required: provisioned cars as vehicleId<TAB>password lines')
const CREDENTIALS = new SharedArray('credentials', () => open(CREDENTIALS_FILE).split('\n').map(l => l.trim()).filter(l => l.includes('\t')))
/** The file's lines are usually in car order (npm run provision -- --bulk): line = car number - the first line's. */
const FIRST_NUMBER = Number(/-(\d+)\t/.exec(CREDENTIALS[0] ?? '')?.[1] ?? 0)
const passwordOf = (id: string, carNumber: number): string => {
  const line = CREDENTIALS[carNumber - FIRST_NUMBER]
  if (line?.startsWith(`${id}\t`)) return line.slice(id.length + 1)
  for (let i = 0; i < CREDENTIALS.length; i++) if (CREDENTIALS[i]!.startsWith(`${id}\t`)) return CREDENTIALS[i]!.slice(id.length + 1)
  throw new Error(`no credential for ${id} in ${CREDENTIALS_FILE}`)
}
const sleepUntil = (at: number) => new Promise<void>(resolve => setTimeout(resolve, Math.max(0, at - Date.now())))

interface RunningCar {
  client: Client
  timer: ReturnType<typeof setInterval> | null
  online: boolean
  /** When the storm dropped it (Date.now()), until it is back. */
  droppedAt: number | null
  stormed: boolean
  /** Storm drops so far. */
  storms: number
  back: boolean
}

export default async function (): Promise<void> {
  const startedAt = exec.scenario.startTime
  const stopAt = startedAt + (RAMP_S + HOLD_S) * 1_000
  // idInTest is unique across all instances of a segmented (distributed) test.
  const first = (exec.vu.idInTest - 1) * CARS_PER_VU
  const last = Math.min(CARS, first + CARS_PER_VU)
  const running: RunningCar[] = []
  const byIndex = new Map<number, RunningCar>()
  let stopping = false

  const startCar = async (index: number) => {
    if (stopping) return
    const id = vehicleId(index)
    const topics = { telemetry: `vehicles/${id}/telemetry`, commands: `vehicles/${id}/commands`, ack: `vehicles/${id}/commands/ack` }
    const client = new Client({
      host: HOST,
      port: PORT,
      clientId: id,
      username: id,
      password: passwordOf(id, CAR_OFFSET + index + 1),
      cleanSession: CLEAN_SESSION,
      keepalive: 60,
      connectTimeout: 10_000,
      publishTimeout: PUBLISH_TIMEOUT_MS,
      closeTimeout: PUBLISH_TIMEOUT_MS,
      ...(TLS === undefined ? {} : { tls: TLS }),
      ...(SOURCE_ADDRESSES.length > 0 ? { localAddress: SOURCE_ADDRESSES[index % SOURCE_ADDRESSES.length] } : {})
    })
    const car: RunningCar = { client, timer: null, online: false, droppedAt: null, stormed: false, storms: 0, back: false }
    running.push(car)
    byIndex.set(index, car)
    client.on('message', (topic: string, payload: string) => {
      if (topic !== topics.commands) return
      let commandId: unknown
      try {
        commandId = JSON.parse(payload).commandId
      } catch {
        return
      }
      if (typeof commandId !== 'string' || stopping) return
      client.publishAsync(topics.ack, JSON.stringify({ commandId, result: 'ok' }), { qos: 1 })
        .then(() => commandsAnswered.add(1), () => {})
    })
    const connect = async () => {
      await client.connectAsync()
      if (stopping) {
        client.close()
        return
      }
      await client.subscribeAsync(topics.commands, { qos: 1 })
      car.online = true
      if (car.droppedAt !== null) {
        const took = Date.now() - car.droppedAt
        stormReconnect.add(took)
        record('storm_reconnect_duration', took)
        car.droppedAt = null
        car.back = true
      }
    }
    // Like a real car, keep trying: after a refused or failed connect (a broker not up yet, a
    // connect rate limit) and after a dropped connection (a broker restart, a rolling update),
    // with a growing, jittered delay.
    let attempt = 0
    const reconnect = () => {
      if (stopping) return
      connect().then(() => {
        if (attempt > 0 || car.stormed) carsReconnected.add(1)
        attempt = 0
      }, () => {
        client.close()
        attempt++
        setTimeout(reconnect, Math.min(30_000, 1_000 * 2 ** Math.min(attempt, 5)) * (1 + Math.random() / 2))
      })
    }
    client.on('lost', () => {
      if (stopping) return
      if (car.droppedAt !== null) {
        setTimeout(reconnect, Math.random() * STORM_SPREAD_S * 1_000) // the storm: all at once, within STORM_SPREAD
        return
      }
      carsConnectionLost.add(1)
      setTimeout(reconnect, 1_000 + Math.random() * 2_000)
    })
    reconnect()
    const model = createCar(id, CAR_OFFSET + index + 1, INTERVAL_MS)
    let inflight = 0
    const publish = () => {
      if (stopping) return
      // Dropped by the storm: offline, even before Paho has noticed.
      if (inflight >= MAX_INFLIGHT || !client.isConnected() || car.droppedAt !== null) {
        telemetrySkipped.add(1)
        return
      }
      inflight++
      const storms = car.storms
      client.publishAsync(topics.telemetry, JSON.stringify(model.next()), { qos: 1 }).then(
        () => { inflight--; telemetryFailed.add(0) },
        // In flight when the storm dropped its car (its PUBACK will never come: the connection is
        // gone): the test's doing, counted apart.
        () => { inflight--; if (car.storms === storms) telemetryFailed.add(1); else stormUnacked.add(1) }
      )
    }
    // A random phase spreads each VU's cars over the interval; ticks skip while the car is offline.
    setTimeout(() => {
      if (stopping) return
      car.timer = setInterval(publish, INTERVAL_MS)
    }, Math.random() * INTERVAL_MS)
  }

  for (let i = first; i < last; i++) {
    setTimeout(() => { void startCar(i) }, Math.max(0, startedAt + (i / CARS) * RAMP_S * 1_000 - Date.now()))
  }
  // Every VU names the same phases at the same times; PUBACKs are also kept per phase (k6/x/mqtt).
  phase('ramp')
  setTimeout(() => phase('steady'), Math.max(0, startedAt + RAMP_S * 1_000 - Date.now()))
  if (STORM_AT_S !== null) {
    setTimeout(() => {
      for (const car of running) {
        if (stopping || !car.client.isConnected()) continue
        car.droppedAt = Date.now()
        car.stormed = true
        car.storms++
        car.client.drop()
      }
    }, Math.max(0, startedAt + (RAMP_S + STORM_AT_S) * 1_000 - Date.now()))
  }
  await sleepUntil(stopAt)
  stopping = true
  // One sample per car of this VU, started or not: the verdict checks that all CARS reported.
  for (let i = first; i < last; i++) carsOnline.add(byIndex.get(i)?.online === true ? 1 : 0)
  for (const car of running) if (car.stormed) stormCarsBack.add(car.back ? 1 : 0)
  for (const car of running) if (car.timer !== null) clearInterval(car.timer)
  // close() waits for each car's outstanding PUBACKs (up to closeTimeout) before DISCONNECT.
  for (const car of running) car.client.close()
}

interface SummaryData { metrics: Record<string, { type: string, values: Record<string, number> }> }

/**
 * This runner's share of the test, kept where it survives the runner (SUMMARY_DIR: a volume) in a
 * form cmd/k6-verdict can add up: counters, rates (passes/fails) and the extension's 1 % histograms.
 */
export function handleSummary (data: SummaryData): Record<string, string> {
  const counters: Record<string, number> = {}
  const rates: Record<string, { passes: number, fails: number }> = {}
  for (const [name, m] of Object.entries(data.metrics)) {
    if (m.type === 'counter') counters[name] = m.values.count ?? 0
    if (m.type === 'rate') rates[name] = { passes: m.values.passes ?? 0, fails: m.values.fails ?? 0 }
  }
  const segment = (exec.test.options as { executionSegment?: string }).executionSegment ?? '0:1'
  const instance = `${__ENV.HOSTNAME ?? 'k6'}-${segment.replace(/[^0-9a-z]+/gi, '_')}`
  const summary = { format: 'fleet-k6-summary/1', instance, segment, limits: LIMITS, counters, rates, histograms: histograms() }
  const puback = data.metrics.mqtt_puback_duration?.values ?? {}
  const line = `fleet k6 ${instance}: cars online ${rates.cars_online?.passes ?? 0}/${(rates.cars_online?.passes ?? 0) + (rates.cars_online?.fails ?? 0)}, connect errors ${counters.mqtt_connect_errors ?? 0}, lost ${counters.cars_connection_lost ?? 0}, telemetry failed ${rates.telemetry_failed?.passes ?? 0} of ${(rates.telemetry_failed?.passes ?? 0) + (rates.telemetry_failed?.fails ?? 0)}, PUBACK p95 ${puback['p(95)']?.toFixed(1)} / p99 ${puback['p(99)']?.toFixed(1)} ms\n`
  const out: Record<string, string> = { stdout: line + JSON.stringify(summary) + '\n' }
  if (SUMMARY_DIR !== '') out[`${SUMMARY_DIR}/${instance}.json`] = JSON.stringify(summary)
  return out
}
