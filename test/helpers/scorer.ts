// Starts a real scorer (the factory main.ts uses) against the stack's Kafka and Redis, in a
// consumer group of its own whose offsets start at the topic's current end, so it scores only
// what the test sends from then on (other tests share vehicle.telemetry).
import { randomUUID } from 'node:crypto'
import type { Redis } from 'ioredis'
import { createLogger } from '../../services/shared/src/logger.js'
import { KafkaTopics } from '../../services/shared/src/topics.js'
import { createScorer, type Scorer } from '../../services/scorer/src/index.js'
import { loadScorerConfig, type ScorerConfig } from '../../services/scorer/src/scorer-config.js'
import { endOffsets, testKafka } from './kafka.js'

export interface TestScorer {
  scorer: Scorer
  config: ScorerConfig
  opsPort: number
  stop: () => Promise<void>
  metric: (name: string, labels?: Record<string, string>) => Promise<number>
}

/** Points a new consumer group at the end of vehicle.telemetry (before any member joins). */
export async function groupAtEnd (groupId: string): Promise<void> {
  const admin = testKafka().admin()
  await admin.connect()
  try {
    const partitions = await endOffsets(KafkaTopics.telemetry)
    await admin.setOffsets({ groupId, topic: KafkaTopics.telemetry, partitions })
  } finally {
    await admin.disconnect()
  }
}

export async function startTestScorer (env: Record<string, string> = {}, deps: { redis?: Redis } = {}): Promise<TestScorer> {
  const config = loadScorerConfig({
    ...process.env,
    FLEET_SCORER_GROUP_ID: `fleet-test-scorer-${randomUUID().slice(0, 8)}`,
    FLEET_SCORER_OPS_PORT: '0',
    FLEET_LOG_LEVEL: process.env.FLEET_TEST_LOG_LEVEL ?? 'silent',
    FLEET_SCORER_WATCH_MODEL: 'false',
    FLEET_SCORER_PUBLISH_SCORES: 'true',
    // a test's batches are small: parts of 16 rows make them several parts, whose writes overlap
    FLEET_SCORER_OVERLAP_ROWS: '16',
    ...env
  })
  if (env.FLEET_SCORER_GROUP_ID === undefined) await groupAtEnd(config.groupId)
  const scorer = createScorer(config, { log: createLogger('scorer', config.logLevel), ...deps })
  const { opsPort } = await scorer.start()
  return {
    scorer,
    config,
    opsPort,
    stop: () => scorer.stop(),
    metric: async (name, labels = {}) => {
      const metric = await scorer.registry.getSingleMetric(name)?.get()
      if (metric === undefined) throw new Error(`no metric ${name}`)
      return metric.values
        .filter(v => Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want))
        .reduce((sum, v) => sum + v.value, 0)
    }
  }
}
