// Starts one commander process from environment variables; stops cleanly on SIGTERM/SIGINT.
import { ConfigError } from '../../shared/src/config.js'
import { createLogger } from '../../shared/src/logger.js'
import { loadCommanderConfig } from './commander-config.js'
import { createCommander } from './index.js'

const log = createLogger('commander', process.env.FLEET_LOG_LEVEL ?? 'info')
try {
  const config = loadCommanderConfig()
  const commander = createCommander(config, { log })
  await commander.start()
  let stopping = false
  const shutdown = (signal: string) => {
    if (stopping) return
    stopping = true
    log.info({ signal }, 'stopping')
    commander.stop().then(() => process.exit(0), err => {
      log.error({ err }, 'stop failed')
      process.exit(1)
    })
  }
  process.on('SIGTERM', () => shutdown('SIGTERM'))
  process.on('SIGINT', () => shutdown('SIGINT'))
} catch (err) {
  log.fatal(err instanceof ConfigError ? err.message : { err }, 'commander failed to start')
  process.exit(1)
}
