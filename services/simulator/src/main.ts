// Runs a simulated fleet from environment variables until SIGTERM/SIGINT.
import { ConfigError } from '../../shared/src/config.js'
import { createLogger } from '../../shared/src/logger.js'
import { createSimulator } from './index.js'
import { loadSimulatorConfig } from './simulator-config.js'

const log = createLogger('simulator', process.env.FLEET_LOG_LEVEL ?? 'info')
try {
  const sim = createSimulator(loadSimulatorConfig(), { log })
  const stop = () => { sim.stop().then(() => process.exit(0), () => process.exit(1)) }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
  await sim.start()
} catch (err) {
  log.fatal(err instanceof ConfigError ? err.message : { err }, 'simulator failed to start')
  process.exit(1)
}
