// The car simulator's settings (local fleet for `npm start`, and `npm run loadtest:local`).
import { bool, int, list, oneOf, readConfig, str, type ConfigOf, type Setting } from '../../shared/src/config.js'
import { ConfigError } from '../../shared/src/config.js'
import type { FailureMode } from '../../shared/src/vehicle-model.js'
import { devModeSetting, logSettings, redisSettings } from '../../shared/src/common-config.js'
import { DEFAULT_FAILURE_MODES, parseFailureModes } from './failures.js'

function failureModesSetting (env: string, doc: string): Setting<FailureMode[]> {
  const plain = list(env, [], doc)
  return { env, default: [...DEFAULT_FAILURE_MODES], doc, parse: raw => parseFailureModes(plain.parse(raw)) }
}

export const simulatorSettings = {
  ...logSettings,
  ...redisSettings,
  ...devModeSetting,
  mqttUrls: list('FLEET_SIM_MQTT_URL', ['mqtt://127.0.0.1:1883'], 'broker(s) the simulated cars connect to (comma-separated mqtt:// or ws:// URLs; car i uses URL i mod n, and moves to the next one when its broker is unreachable)'),
  cars: int('FLEET_SIM_CARS', 20, 'number of simulated cars', 0, 1_000_000),
  firstCar: int('FLEET_SIM_FIRST_CAR', 0, 'index of the first car (to split a fleet over processes)', 0, 10_000_000),
  idPrefix: str('FLEET_SIM_ID_PREFIX', 'sim-car', 'vehicle id prefix; ids are <prefix>-<index>', /^[A-Za-z0-9][A-Za-z0-9._-]{0,40}$/),
  intervalMs: int('FLEET_SIM_INTERVAL_MS', 1_000, 'telemetry interval per car', 10, 3_600_000),
  rampPerSecond: int('FLEET_SIM_RAMP_PER_S', 500, 'new connections per second while ramping up', 1, 100_000),
  seed: int('FLEET_SIM_SEED', 1, 'seed of the simulated signals'),
  credentialsFile: str('FLEET_SIM_CREDENTIALS_FILE', '', 'file of `vehicleId<TAB>password` lines (cars provisioned through the api); empty = the simulator provisions its cars in Redis itself at start (development and load tests only: needs FLEET_DEV_MODE=1)'),
  reportEveryMs: int('FLEET_SIM_REPORT_MS', 10_000, 'how often the simulator logs its figures (0 = never)', 0, 3_600_000),
  reportSamples: bool('FLEET_SIM_REPORT_SAMPLES', false, 'add an even sample of up to 500 PUBACK latencies to each report line (load tests merge them across simulator processes)'),
  recordFile: str('FLEET_SIM_RECORD_FILE', '', 'at stop, write each car\'s acknowledged telemetry seqs and the commandIds it received (with counts) to this JSON file; {first} in the name becomes FLEET_SIM_FIRST_CAR (fault tests; empty = off)'),
  client: oneOf('FLEET_SIM_CLIENT', 'mqttjs', 'MQTT client of each car: mqttjs (mqtt.js, TCP or WebSocket) or lean (fleet\'s own minimal TCP client: more cars per core, for load tests)', ['mqttjs', 'lean'] as const),
  invalidPct: int('FLEET_SIM_INVALID_PCT', 0, 'share (%) of all messages sent as schema-invalid telemetry on top of the valid ones (DLQ load tests; 0 = off)', 0, 90),
  failingPct: int('FLEET_SIM_FAILING_PCT', 20, 'share (%) of the simulated cars that develop a failure (spread evenly over the car indexes; the load tools set 0)', 0, 100),
  failureModes: failureModesSetting('FLEET_SIM_FAILURE_MODES', 'failure modes the failing cars take in turn (comma-separated)'),
  failureOnsetMaxS: int('FLEET_SIM_FAILURE_ONSET_MAX_S', 120, 'a failing car\'s failure starts at a seeded time between 0 and this many seconds of driving', 0, 86_400),
  failureDevelopS: int('FLEET_SIM_FAILURE_DEVELOP_S', 180, 'seconds from a failure\'s onset to its full severity (the car model\'s own defaults are 600-900 s; shorter shows anomalies sooner)', 1, 86_400)
}

export type SimulatorConfig = ConfigOf<typeof simulatorSettings>
export function loadSimulatorConfig (env: NodeJS.ProcessEnv = process.env): SimulatorConfig {
  const config = readConfig(simulatorSettings, env)
  if (config.credentialsFile === '' && !config.devMode && config.cars > 0) throw new ConfigError(['FLEET_SIM_CREDENTIALS_FILE: required outside development (FLEET_DEV_MODE=1 lets the simulator provision its own cars)'])
  return config
}
