// Simulated cars for k6 (built by scripts/build-k6.sh, with k6/x/mqtt): ramps to CARS cars, each
// with its own credentials and persistent session, publishing telemetry at QoS 1 every INTERVAL_MS
// and acknowledging the commands it receives. One VU drives CARS_PER_VU cars, so 100k cars need
// 2,000 VUs, not 100k. Car k (global, 0-based) is `k6-car-{CAR_OFFSET + k + 1, 5 digits}` and
// connects at k / CARS of the ramp, so instances running execution segments of the same test
// (k6-operator, --execution-segment) together ramp exactly like one instance would.
import exec from 'k6/execution'
import { Counter, Rate } from 'k6/metrics'
import { clearInterval, setInterval, setTimeout } from 'k6/timers'
import { Client } from 'k6/x/mqtt'
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
  thresholds: {
    mqtt_connect_errors: [`count<=${num('MAX_CONNECT_ERRORS', 0)}`],
    mqtt_connections_lost: [`count<=${num('MAX_CONNECT_ERRORS', 0)}`],
    telemetry_failed: [`rate<=${num('MAX_ERROR_RATE', 0.001)}`],
    mqtt_puback_duration: [`p(95)<${num('PUBACK_P95_MS', 100)}`, `p(99)<${num('PUBACK_P99_MS', 250)}`],
    cars_online: [`rate>=${num('MIN_ONLINE_RATE', 0.99)}`]
  },
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max', 'count'],
  // Per-VU tags would make a time series per car group; the summary needs none.
  systemTags: ['scenario']
}

/** Telemetry publishes that got no PUBACK (refused, timed out, connection lost). */
const telemetryFailed = new Rate('telemetry_failed')
/** Ticks a car skipped: MAX_INFLIGHT_PER_CAR messages still unacknowledged, or the car offline. */
const telemetrySkipped = new Counter('telemetry_skipped')
/** Per car: 1 if it connected and subscribed to its commands, 0 if not. */
const carsOnline = new Rate('cars_online')
const commandsAnswered = new Counter('car_commands_answered')
const carsReconnected = new Counter('cars_reconnected')

const vehicleId = (index: number) => `${ID_PREFIX}-${String(CAR_OFFSET + index + 1).padStart(5, '0')}`
// Each car's own provisioned credential (none can be derived from a fleet-wide key).
if (CREDENTIALS_FILE === '') throw new Error('CREDENTIALS_FILE is required: provisioned cars as vehicleId<TAB>password lines')
const PASSWORDS = new Map(open(CREDENTIALS_FILE).split('\n').map(l => l.trim().split('\t')).filter(p => p.length >= 2).map(p => [p[0]!, p[1]!] as [string, string]))
const passwordOf = (id: string): string => {
  const p = PASSWORDS.get(id)
  if (p === undefined) throw new Error(`no credential for ${id} in ${CREDENTIALS_FILE}`)
  return p
}
const sleepUntil = (at: number) => new Promise<void>(resolve => setTimeout(resolve, Math.max(0, at - Date.now())))

interface RunningCar {
  client: Client
  timer: ReturnType<typeof setInterval> | null
}

export default async function (): Promise<void> {
  const startedAt = exec.scenario.startTime
  const stopAt = startedAt + (RAMP_S + HOLD_S) * 1_000
  // idInTest is unique across all instances of a segmented (distributed) test.
  const first = (exec.vu.idInTest - 1) * CARS_PER_VU
  const last = Math.min(CARS, first + CARS_PER_VU)
  const running: RunningCar[] = []
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
      password: passwordOf(id),
      cleanSession: CLEAN_SESSION,
      keepalive: 60,
      connectTimeout: 10_000,
      publishTimeout: PUBLISH_TIMEOUT_MS,
      closeTimeout: PUBLISH_TIMEOUT_MS,
      ...(SOURCE_ADDRESSES.length > 0 ? { localAddress: SOURCE_ADDRESSES[index % SOURCE_ADDRESSES.length] } : {})
    })
    const car: RunningCar = { client, timer: null }
    running.push(car)
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
    }
    // Like a real car, reconnect after a dropped connection (a broker restart, a rolling update).
    const reconnect = () => {
      if (stopping) return
      connect().then(() => carsReconnected.add(1), () => {
        client.close()
        setTimeout(reconnect, 2_000 + Math.random() * 3_000)
      })
    }
    client.on('lost', () => {
      if (!stopping) setTimeout(reconnect, 1_000 + Math.random() * 2_000)
    })
    try {
      await connect()
    } catch (err) {
      if (stopping) return // closed by the end of the test while connecting
      carsOnline.add(0)
      console.warn(`${id}: ${String(err)}`)
      client.close()
      return
    }
    carsOnline.add(1)
    const model = createCar(id, CAR_OFFSET + index + 1, INTERVAL_MS)
    let inflight = 0
    const publish = () => {
      if (stopping) return
      if (inflight >= MAX_INFLIGHT || !client.isConnected()) {
        telemetrySkipped.add(1)
        return
      }
      inflight++
      client.publishAsync(topics.telemetry, JSON.stringify(model.next()), { qos: 1 }).then(
        () => { inflight--; telemetryFailed.add(0) },
        () => { inflight--; telemetryFailed.add(1) }
      )
    }
    // A random phase spreads each VU's cars over the interval.
    setTimeout(() => {
      if (stopping) return
      publish()
      car.timer = setInterval(publish, INTERVAL_MS)
    }, Math.random() * INTERVAL_MS)
  }

  for (let i = first; i < last; i++) {
    setTimeout(() => { void startCar(i) }, Math.max(0, startedAt + (i / CARS) * RAMP_S * 1_000 - Date.now()))
  }
  await sleepUntil(stopAt)
  stopping = true
  for (const car of running) if (car.timer !== null) clearInterval(car.timer)
  // close() waits for each car's outstanding PUBACKs (up to closeTimeout) before DISCONNECT.
  for (const car of running) car.client.close()
}
