// Starts one scorer process from environment variables; SIGHUP reloads the model, SIGTERM/SIGINT
// finish the batch in hand and leave the consumer group; a scorer that gives up exits with 1.
import { ConfigError } from '../../shared/src/config.js'
import { createLogger } from '../../shared/src/logger.js'
import { createScorer } from './index.js'
import { loadScorerConfig } from './scorer-config.js'

const log = createLogger('scorer', process.env.FLEET_LOG_LEVEL ?? 'info')
try {
  const config = loadScorerConfig()
  const scorer = createScorer(config, { log })
  await scorer.start()
  let stopping = false
  const shutdown = (signal: string) => {
    if (stopping) return
    stopping = true
    log.info({ signal }, 'stopping')
    scorer.stop().then(() => process.exit(0), err => {
      log.error({ err }, 'stop failed')
      process.exit(1)
    })
  }
  process.on('SIGTERM', () => shutdown('SIGTERM'))
  process.on('SIGINT', () => shutdown('SIGINT'))
  process.on('SIGHUP', () => { void scorer.reloadModel() })
  // A scorer whose consumer keeps crashing exits non-zero, so that its supervisor restarts it.
  void scorer.failure.then(err => {
    if (stopping) return
    stopping = true
    log.fatal({ err: err.message }, 'the scorer gave up; exiting')
    scorer.stop().catch(() => {}).finally(() => process.exit(1))
  })
} catch (err) {
  if (err instanceof ConfigError) log.fatal(err.message)
  else log.fatal({ err }, 'scorer failed to start')
  process.exit(1)
}
