// Starts one broker process from environment variables; drains on SIGTERM/SIGINT.
import { ConfigError } from '../../shared/src/config.js'
import { createLogger } from '../../shared/src/logger.js'
import { loadBrokerConfig } from './broker-config.js'
import { createBroker } from './index.js'

// Below the chart's terminationExtraSeconds (15), so the pod ends itself, with a log line, before Kubernetes' SIGKILL.
const STOP_SLACK_MS = 10_000
const log = createLogger('broker', process.env.FLEET_LOG_LEVEL ?? 'info')
try {
  const config = loadBrokerConfig()
  const broker = await createBroker(config, { log })
  await broker.start()
  let stopping = false
  const shutdown = (signal: string) => {
    if (stopping) return
    stopping = true
    log.info({ signal }, 'draining')
    // Whatever a dependency does, a drain ends: the Kafka wait, then a bounded close.
    const limitMs = config.drainMs + STOP_SLACK_MS
    setTimeout(() => {
      log.error({ ms: limitMs }, 'stop did not finish in time; exiting')
      process.exit(1)
    }, limitMs).unref()
    broker.stop().then(() => process.exit(0), err => {
      log.error({ err }, 'stop failed')
      process.exit(1)
    })
  }
  process.on('SIGTERM', () => shutdown('SIGTERM'))
  process.on('SIGINT', () => shutdown('SIGINT'))
} catch (err) {
  if (err instanceof ConfigError) {
    log.fatal(err.message)
  } else {
    log.fatal({ err }, 'broker failed to start')
  }
  process.exit(1)
}
