// Starts a real broker (the same factory main.ts uses) on free ports against the stack's Kafka
// and Redis, for system tests and benchmarks.
import { randomUUID } from 'node:crypto'
import { loadBrokerConfig, type BrokerConfig } from '../../services/broker/src/broker-config.js'
import { createBroker, type BrokerAddresses, type FleetBroker } from '../../services/broker/src/index.js'
import { createLogger } from '../../services/shared/src/logger.js'

export interface TestBroker extends BrokerAddresses {
  broker: FleetBroker
  config: BrokerConfig
  stop: () => Promise<void>
  metric: (name: string, labels?: Record<string, string>) => Promise<number>
  /** Resolves once the broker consumes vehicle.commands (a member of its consumer group). */
  commandsJoined: (timeoutMs?: number) => Promise<void>
}

export async function startTestBroker (env: Record<string, string> = {}): Promise<TestBroker> {
  const config = loadBrokerConfig({
    ...process.env,
    FLEET_BROKER_ID: `test-${randomUUID().slice(0, 8)}`,
    FLEET_MQTT_PORT: '0',
    FLEET_MQTT_WS_PORT: '0',
    FLEET_BROKER_OPS_PORT: '0',
    FLEET_LOG_LEVEL: process.env.FLEET_TEST_LOG_LEVEL ?? 'silent',
    // In process the event loop is the test's too (its cars, its assertions, a k6 runner's burst of
    // connects): its lateness and its connects under way are not the broker's. Tests of the
    // shedding (limits.test.ts) turn it on; broker processes keep the defaults.
    FLEET_CONNECT_SHED_LAG_MS: '0',
    FLEET_MAX_PENDING_CONNECTS: '0',
    ...env
  })
  const broker = await createBroker(config, { log: createLogger('broker', config.logLevel) })
  const addresses = await broker.start()
  return {
    ...addresses,
    broker,
    config,
    stop: () => broker.stop(),
    commandsJoined: async (timeoutMs = 30_000) => {
      const deadline = Date.now() + timeoutMs
      while (!broker.commandIntake.joined()) {
        if (Date.now() > deadline) throw new Error('the broker did not join the vehicle.commands group')
        await new Promise(resolve => setTimeout(resolve, 50))
      }
    },
    metric: async (name, labels = {}) => {
      const metric = await broker.registry.getSingleMetric(name)?.get()
      if (metric === undefined) throw new Error(`no metric ${name}`)
      return metric.values
        .filter(v => Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want))
        .reduce((sum, v) => sum + v.value, 0)
    }
  }
}
