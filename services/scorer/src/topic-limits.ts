// The largest record batch the scorer's output topics accept: each topic's max.message.bytes (the
// broker's message.max.bytes unless the topic overrides it), read from Kafka at each consumer start.
import kafkajs, { type Kafka } from 'kafkajs'

// kafkajs is CommonJS and this export is not one Node's ESM loader can see by name.
const { ConfigResourceTypes } = kafkajs

export async function readMaxMessageBytes (kafka: Kafka, topics: string[]): Promise<number> {
  const admin = kafka.admin()
  await admin.connect()
  try {
    const { resources } = await admin.describeConfigs({
      includeSynonyms: false,
      resources: topics.map(name => ({ type: ConfigResourceTypes.TOPIC, name, configNames: ['max.message.bytes'] }))
    })
    let min = Number.POSITIVE_INFINITY
    for (const r of resources) {
      if (r.errorCode !== 0) throw new Error(`${r.resourceName}: ${r.errorMessage}`)
      for (const e of r.configEntries) if (e.configName === 'max.message.bytes') min = Math.min(min, Number(e.configValue))
    }
    if (!Number.isFinite(min) || min <= 0) throw new Error('no max.message.bytes in the answer')
    return min
  } finally {
    await admin.disconnect().catch(() => {})
  }
}
