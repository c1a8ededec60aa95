// Waits until Kafka answers metadata requests, then creates fleet's topics that are missing, with
// FLEET_KAFKA_TOPIC_REPLICATION replicas and min.insync.replicas FLEET_KAFKA_TOPIC_MIN_ISR.
// Used by npm start, npm test, npm run soak and the chart's topics Job; idempotent.
import { ConfigError, readConfig } from '../services/shared/src/config.js'
import { kafkaSettings, topicSettings } from '../services/shared/src/common-config.js'
import { createKafka, ensureTopics } from '../services/shared/src/kafka.js'
import { createLogger } from '../services/shared/src/logger.js'

const config = readConfig({ ...kafkaSettings, ...topicSettings })
if (config.topicMinIsr > config.topicReplication) {
  // Kafka would accept the topics, and then refuse every acks=all write to them.
  throw new ConfigError([`FLEET_KAFKA_TOPIC_MIN_ISR=${config.topicMinIsr} is above FLEET_KAFKA_TOPIC_REPLICATION=${config.topicReplication}`])
}
const log = createLogger('kafka-topics', 'warn')
const admin = createKafka(config, log, '-topics').admin()
const deadline = Date.now() + 60_000
for (;;) {
  try {
    await admin.connect()
    const created = await ensureTopics(admin, undefined, config.topicReplication, config.topicMinIsr)
    console.log(created.length > 0 ? `[stack] created topics: ${created.join(', ')}` : '[stack] topics present')
    break
  } catch (err) {
    if (Date.now() > deadline) {
      console.error(`[stack] kafka not ready after 60 s: ${(err as Error).message}`)
      process.exit(1)
    }
    await new Promise(resolve => setTimeout(resolve, 500))
  }
}
await admin.disconnect()
