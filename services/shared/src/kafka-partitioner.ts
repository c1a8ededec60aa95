// Kafka's default partitioning of keyed records, as the Java client and kafkajs' DefaultPartitioner
// compute it: murmur2 of the key, made positive, modulo the partition count. The hash of each key
// is remembered, so a car's vehicleId is hashed once, not once per message (the broker's profile
// gave murmur2 and the per-message partition scan 7 % of its time at 25k msg/s). Both of the
// broker's Kafka clients use the same cache (services/broker/src/record-producer.ts).
import { murmur2 } from '@platformatic/kafka'
import { Partitioners, type ICustomPartitioner } from 'kafkajs'

/** Kafka's partition hash of a key as the Java client computes it (before `% partitions`). */
const javaPartitionHash = (key: Buffer): number => murmur2(key) & 0x7fffffff

/** Each string key's partition hash, computed once (the cache starts again past `maxKeys`). */
export function keyHashCache (maxKeys = 500_000): (key: string) => number {
  const hashes = new Map<string, number>()
  return key => {
    let h = hashes.get(key)
    if (h === undefined) {
      h = javaPartitionHash(Buffer.from(key))
      if (hashes.size >= maxKeys) hashes.clear()
      hashes.set(key, h)
    }
    return h
  }
}

/** kafkajs' default partitioner with the hash cache; keyless records and explicit partitions go to kafkajs'. */
export function cachedKeyPartitioner (maxKeys = 500_000): ICustomPartitioner {
  return () => {
    const fallback = Partitioners.DefaultPartitioner()
    const hash = keyHashCache(maxKeys)
    return args => {
      const { partitionMetadata, message } = args
      const key = message.key
      if (typeof key !== 'string' || (message.partition !== undefined && message.partition !== null)) return fallback(args)
      return hash(key) % partitionMetadata.length
    }
  }
}
