// Prints (JSON) the name of every series the four services' registries can expose, histogram
// _bucket/_sum/_count included: each service is built by its own factory, as main.ts builds it,
// and never started. Run as a child process (the factories leave handles open): the chart's
// alert rules and dashboard are checked against this list.
import { createApi } from '../../services/api/src/index.js'
import { loadApiConfig } from '../../services/api/src/api-config.js'
import { createBroker } from '../../services/broker/src/index.js'
import { loadBrokerConfig } from '../../services/broker/src/broker-config.js'
import { createCommander } from '../../services/commander/src/index.js'
import { loadCommanderConfig } from '../../services/commander/src/commander-config.js'
import { createScorer } from '../../services/scorer/src/index.js'
import { loadScorerConfig } from '../../services/scorer/src/scorer-config.js'
import type { Registry } from 'prom-client'

const env = { FLEET_DEV_MODE: '1', FLEET_KAFKA_BROKERS: '127.0.0.1:9', FLEET_REDIS_URL: 'redis://127.0.0.1:9', FLEET_LOG_LEVEL: 'silent' }
const registries: Record<string, Registry> = {
  broker: (await createBroker(loadBrokerConfig(env))).registry,
  scorer: createScorer(loadScorerConfig(env)).registry,
  commander: createCommander(loadCommanderConfig(env)).registry,
  api: createApi(loadApiConfig(env)).registry
}
const names: Record<string, string[]> = {}
for (const [service, registry] of Object.entries(registries)) {
  names[service] = (await registry.getMetricsAsJSON()).flatMap(m => String(m.type) === 'histogram' ? [`${m.name}_bucket`, `${m.name}_sum`, `${m.name}_count`] : [m.name])
}
console.log(JSON.stringify(names))
process.exit(0)
