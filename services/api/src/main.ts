// Starts one api process from environment variables; stops cleanly on SIGTERM/SIGINT.
import { ConfigError } from '../../shared/src/config.js'
import { createLogger } from '../../shared/src/logger.js'
import { loadApiConfig } from './api-config.js'
import { createApi } from './index.js'

const log = createLogger('api', process.env.FLEET_LOG_LEVEL ?? 'info')
try {
  const config = loadApiConfig()
  const api = createApi(config, { log })
  await api.start()
  let stopping = false
  const shutdown = (signal: string) => {
    if (stopping) return
    stopping = true
    log.info({ signal }, 'stopping')
    api.stop().then(() => process.exit(0), err => {
      log.error({ err }, 'stop failed')
      process.exit(1)
    })
  }
  process.on('SIGTERM', () => shutdown('SIGTERM'))
  process.on('SIGINT', () => shutdown('SIGINT'))
} catch (err) {
  log.fatal(err instanceof ConfigError ? err.message : { err }, 'api failed to start')
  process.exit(1)
}
