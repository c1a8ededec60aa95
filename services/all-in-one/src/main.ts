// The whole system in one process for local use (`npm start`): broker, scorer, commander and api,
// started with the same factories their own main.ts uses, plus a small simulated fleet. Needs the stack
// (scripts/stack.sh up). Settings are the services' own environment variables. It says the fleet runs
// only once the scorer is ready, logs when it stops being ready, and exits with 1 if it gives up.
import { ConfigError } from '../../shared/src/config.js'
import { createLogger } from '../../shared/src/logger.js'
import { loadBrokerConfig } from '../../broker/src/broker-config.js'
import { createBroker } from '../../broker/src/index.js'
import { createSimulator } from '../../simulator/src/index.js'
import { loadScorerConfig } from '../../scorer/src/scorer-config.js'
import { createScorer } from '../../scorer/src/index.js'
import { loadCommanderConfig } from '../../commander/src/commander-config.js'
import { createCommander } from '../../commander/src/index.js'
import { loadApiConfig } from '../../api/src/api-config.js'
import { createApi } from '../../api/src/index.js'
import { loadSimulatorConfig } from '../../simulator/src/simulator-config.js'
import { waitReady, watchReadiness } from './readiness-watch.js'

const log = createLogger('fleet', process.env.FLEET_LOG_LEVEL ?? 'info')
const stoppers: Array<() => Promise<void>> = []
/** How long the launcher waits for the scorer to join its group before saying it is not ready. */
const SCORER_READY_TIMEOUT_MS = 60_000
let stopping = false

try {
  const brokerConfig = loadBrokerConfig()
  const broker = await createBroker(brokerConfig, { log: log.child({ component: 'broker' }) })
  const addresses = await broker.start()
  stoppers.unshift(() => broker.stop())

  const scorer = createScorer(loadScorerConfig(), { log: log.child({ component: 'scorer' }) })
  const { opsPort: scorerOpsPort } = await scorer.start()
  stoppers.unshift(() => scorer.stop())
  // A dead scorer is a dead fleet: say so and exit non-zero rather than run on without scoring.
  void scorer.failure.then(async err => {
    if (stopping) return
    stopping = true
    log.fatal({ service: 'scorer', err: err.message }, 'the scorer gave up (its consumer kept crashing): fleet is NOT running; stopping')
    for (const stop of stoppers) await stop().catch(() => {})
    process.exit(1)
  })

  const commander = createCommander(loadCommanderConfig(), { log: log.child({ component: 'commander' }) })
  await commander.start()
  stoppers.unshift(() => commander.stop())

  const apiConfig = loadApiConfig()
  const api = createApi(apiConfig, { log: log.child({ component: 'api' }) })
  const { port: apiPort } = await api.start()
  stoppers.unshift(() => api.stop())

  const sim = createSimulator(loadSimulatorConfig({ FLEET_SIM_MQTT_URL: `mqtt://127.0.0.1:${addresses.mqttPort}`, ...process.env }), { log: log.child({ component: 'simulator' }) })
  await sim.start()
  stoppers.unshift(() => sim.stop())

  const notReady = await waitReady(scorer.readiness, SCORER_READY_TIMEOUT_MS)
  const stopWatch = watchReadiness('scorer', scorer.readiness, log)
  stoppers.unshift(async () => stopWatch())
  const where = {
    dashboard: `http://127.0.0.1:${apiPort}/dashboard`,
    apiDocs: `http://127.0.0.1:${apiPort}/docs`,
    devKeys: process.env.FLEET_API_KEYS === undefined ? 'operator: fleet-dev-operator-key, read-only: fleet-dev-read-only-key' : '(from FLEET_API_KEYS)',
    mqtt: `mqtt://127.0.0.1:${addresses.mqttPort}`,
    ws: addresses.wsPort === null ? null : `ws://127.0.0.1:${addresses.wsPort}`,
    brokerMetrics: `http://127.0.0.1:${addresses.opsPort}/metrics`,
    scorerReady: `http://127.0.0.1:${scorerOpsPort}/readyz`
  }
  if (notReady.length === 0) log.info(where, 'fleet is running (Ctrl-C stops it; `npm run stack -- down` stops Kafka and Redis)')
  else log.error({ ...where, scorerFailing: notReady }, 'fleet started, but the scorer is NOT ready: nothing is scored until it is (see scorerReady)')
} catch (err) {
  log.fatal(err instanceof ConfigError ? err.message : { err }, 'fleet failed to start')
  for (const stop of stoppers) await stop().catch(() => {})
  process.exit(1)
}

const shutdown = async (signal: string) => {
  if (stopping) return
  stopping = true
  log.info({ signal }, 'stopping')
  for (const stop of stoppers) await stop().catch(err => log.error({ err }, 'stop failed'))
  process.exit(0)
}
process.on('SIGTERM', () => { void shutdown('SIGTERM') })
process.on('SIGINT', () => { void shutdown('SIGINT') })
