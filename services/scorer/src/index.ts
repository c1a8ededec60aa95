// The scorer: a Kafka consumer group on vehicle.telemetry that scores micro-batches with the
// autoencoder, writes each car's latest state to Redis (layout: shared/src/vehicle-state.ts),
// produces anomalies (and optionally every score) to Kafka, and refuses bad records to the DLQ.
// A batch's offsets are committed only after its results are written, so a crash may score a
// message twice but never skips one. `createScorer(config, deps)` is what main.ts and tests use.
import { watch, type FSWatcher } from 'node:fs'
import type { Redis } from 'ioredis'
import { createRedis } from '../../shared/src/redis-connection.js'
import { RedisPipeline, targetOf } from './redis-pipeline.js'
import { Partitioners, type Kafka, type Message, type Producer } from 'kafkajs'
import type { Registry } from 'prom-client'
import { createKafka } from '../../shared/src/kafka.js'
import { createLogger, type Logger } from '../../shared/src/logger.js'
import { createRegistry } from '../../shared/src/metrics.js'
import { createRedisErrorWatch } from '../../shared/src/redis-errors.js'
import { createOpsServer, type OpsServer } from '../../shared/src/ops-server.js'
import { KafkaTopics } from '../../shared/src/topics.js'
import { createHistoryWriter } from './car-history.js'
import { createBatchProcessor } from './batch-processor.js'
import { createRuntime, type ModelRuntime, type TelemetryRecord } from './batch-scoring.js'
import { createConsumerProgress } from './consumer-progress.js'
import { createConsumerSupervisor, type ConsumerSupervisor } from '../../shared/src/consumer-supervisor.js'
import { loadModel } from './model-files.js'
import { chunkTopicMessages, REQUEST_OVERHEAD, type ChunkLimits } from './produce-chunks.js'
import type { ScorerConfig } from './scorer-config.js'
import { createScorerMetrics, type ScorerMetrics } from './scorer-metrics.js'
import { launchTelemetryConsumer } from './telemetry-consumer.js'
import { defaultTfjsNodeDir, loadTf, type LoadedTf } from './tf-backend.js'
import { readMaxMessageBytes } from './topic-limits.js'

export interface ScorerDeps {
  log?: Logger
  registry?: Registry
  kafka?: Kafka
  redis?: Redis
  /** Wall clock (ms); tests may pin it. */
  clock?: () => number
}

export interface Scorer {
  start: () => Promise<{ opsPort: number }>
  /** Finishes the batch in hand (results written, offsets committed), then leaves the group. */
  stop: () => Promise<void>
  /** Loads model/ again; true when a new version is now in use. */
  reloadModel: () => Promise<boolean>
  readonly modelVersion: string | null
  readonly backend: string | null
  /** The /readyz checks: model loaded, consumer running in the group, making progress, Redis. */
  readiness: () => Record<string, boolean>
  /** Settles with the cause when the scorer gave up (its consumer kept crashing): the process should exit non-zero. */
  readonly failure: Promise<Error>
  readonly registry: Registry
  readonly metrics: ScorerMetrics
}

interface Pending { records: TelemetryRecord[], resolve: () => void, reject: (err: Error) => void }

export function createScorer (config: ScorerConfig, deps: ScorerDeps = {}): Scorer {
  const log = (deps.log ?? createLogger('scorer', config.logLevel))
  const registry = deps.registry ?? createRegistry('scorer')
  const metrics = createScorerMetrics(registry)
  const clock = deps.clock ?? Date.now
  const kafka = deps.kafka ?? createKafka(config, log, '-scorer')
  const ownRedis = deps.redis === undefined
  const redis = deps.redis ?? createRedis(config, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 3_000 })
  if (ownRedis) createRedisErrorWatch('scorer', registry, log).watch('state', redis)
  const source = `scorer:${config.groupId}`
  const history = createHistoryWriter({ length: config.historyLength, everyMs: config.historyEveryMs, ttlS: config.historyTtlS })
  const pipeline = new RedisPipeline(() => targetOf(redis))
  const batches = createBatchProcessor({ config, redis, pipeline, history, metrics, log, clock, source, produce: topicMessages => produce(topicMessages) })
  let tfl: LoadedTf | null = null
  let runtime: ModelRuntime | null = null
  let producer: Producer | null = null
  let ops: OpsServer | null = null
  let watcher: FSWatcher | null = null
  let evictTimer: NodeJS.Timeout | null = null
  let reloadTimer: NodeJS.Timeout | null = null
  let joined = false
  let stopping = false
  let launches = 0
  let produceLimits: ChunkLimits = { maxBytes: config.produceMaxBytes, maxRecords: config.produceMaxRecords }
  const progress = createConsumerProgress(config.stallS * 1_000, clock)
  let giveUp!: (err: Error) => void
  const failure = new Promise<Error>(resolve => { giveUp = resolve })
  const supervisor: ConsumerSupervisor = createConsumerSupervisor({
    log,
    initialBackoffMs: config.restartBackoffMs,
    maxBackoffMs: config.restartBackoffMaxMs,
    maxRestarts: config.maxRestarts,
    onRestart: err => metrics.consumerRestarts.inc({ error: err.name }),
    onGiveUp: giveUp,
    launch: async crashed => {
      await refreshProduceLimits()
      if (launches++ > 0) await renewProducer()
      return launchTelemetryConsumer({ kafka, config, log, metrics, progress, submit, membership: m => { joined = m } }, crashed)
    }
  })

  // Micro-batching across partitions: kafkajs hands each partition's batch to eachBatch
  // concurrently; the batches that arrive together are scored as one tensor.
  let queue: Pending[] = []
  let queuedRows = 0
  let flushing: Promise<void> | null = null
  let lingerTimer: NodeJS.Timeout | null = null

  function submit (records: TelemetryRecord[]): Promise<void> {
    return new Promise((resolve, reject) => {
      queue.push({ records, resolve, reject })
      queuedRows += records.length
      schedule()
    })
  }

  function schedule () {
    if (flushing !== null || queue.length === 0) return
    if (queuedRows >= config.maxBatchRows || config.lingerMs === 0) {
      if (lingerTimer !== null) clearTimeout(lingerTimer)
      lingerTimer = null
      setImmediate(flush)
    } else if (lingerTimer === null) {
      lingerTimer = setTimeout(flush, config.lingerMs)
    }
  }

  function flush () {
    lingerTimer = null
    if (flushing !== null || queue.length === 0) return
    const items = queue
    queue = []
    queuedRows = 0
    flushing = batches.process(runtime!, items.flatMap(i => i.records))
      .then(() => {
        supervisor.progress()
        for (const i of items) i.resolve()
      }, (err: Error) => {
        metrics.batchFailures.inc()
        log.error({ err: err.message, records: items.reduce((n, i) => n + i.records.length, 0) }, 'batch not written; it will be retried')
        for (const i of items) i.reject(err)
      })
      .finally(() => {
        flushing = null
        schedule()
      })
  }

  /** Sends a batch's records in requests the broker accepts (produce-chunks.ts), one after another. */
  async function produce (topicMessages: Array<{ topic: string, messages: Message[] }>): Promise<void> {
    for (const chunk of chunkTopicMessages(topicMessages, produceLimits)) await producer!.sendBatch({ topicMessages: chunk, acks: -1 })
  }

  function openProducer (): Promise<Producer> {
    const p = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner })
    return p.connect().then(() => p)
  }

  /**
   * A consumer restart gets a new producer too: after a refused request (MESSAGE_TOO_LARGE) the
   * idempotent producer's sequence numbers are ahead of the broker's, and every later request is
   * refused as out of order.
   */
  async function renewProducer (): Promise<void> {
    await flushing
    const old = producer
    producer = await openProducer()
    await old?.disconnect().catch(() => {})
  }

  /** The output topics' max.message.bytes bounds each request; without it (no DescribeConfigs right), the setting does. */
  async function refreshProduceLimits (): Promise<void> {
    let maxBytes = config.produceMaxBytes
    try {
      const topicMax = await readMaxMessageBytes(kafka, [KafkaTopics.anomalies, KafkaTopics.scores, KafkaTopics.telemetryDlq])
      maxBytes = Math.min(maxBytes, topicMax - REQUEST_OVERHEAD)
    } catch (err) {
      log.warn({ err: (err as Error).message, maxBytes }, 'could not read the output topics\' max.message.bytes; FLEET_SCORER_PRODUCE_MAX_BYTES bounds produce requests')
    }
    produceLimits = { maxBytes, maxRecords: config.produceMaxRecords }
    metrics.produceMaxBytes.set(maxBytes)
  }

  function readiness (): Record<string, boolean> {
    return {
      model: runtime !== null,
      kafka: joined && !stopping && supervisor.state === 'running',
      consuming: progress.stalled() === null,
      redis: redis.status === 'ready'
    }
  }

  function setModelInfo () {
    metrics.modelInfo.reset()
    if (runtime !== null && tfl !== null) metrics.modelInfo.set({ version: runtime.metadata.modelVersion, backend: tfl.backend }, 1)
  }

  async function reloadModel (): Promise<boolean> {
    if (tfl === null || runtime === null) return false
    try {
      const { model, metadata } = await loadModel(tfl.tf, config.modelDir)
      const current = runtime
      if (metadata.modelVersion === current.metadata.modelVersion && metadata.weightsSha256 === current.metadata.weightsSha256) {
        model.dispose()
        metrics.modelReloads.inc({ result: 'unchanged' })
        return false
      }
      runtime = createRuntime(tfl.tf, model, metadata, current)
      // The batch being scored may still hold the old model: dispose it once that batch is done.
      void (flushing ?? Promise.resolve()).finally(() => current.model.dispose())
      setModelInfo()
      metrics.modelReloads.inc({ result: 'loaded' })
      log.info({ from: current.metadata.modelVersion, to: metadata.modelVersion, carsKept: runtime.extractor === current.extractor }, 'model reloaded')
      return true
    } catch (err) {
      metrics.modelReloads.inc({ result: 'failed' })
      log.warn({ err: (err as Error).message, keeping: runtime.metadata.modelVersion }, 'model reload failed; keeping the current model')
      return false
    }
  }

  return {
    registry,
    metrics,
    get modelVersion () { return runtime?.metadata.modelVersion ?? null },
    get backend () { return tfl?.backend ?? null },
    reloadModel,
    readiness,
    failure,
    async start () {
      tfl = await loadTf(config.backend, config.tfjsNodeDir || defaultTfjsNodeDir(), { threads: config.tfThreads })
      log.info({ backend: tfl.backend, reason: tfl.reason }, 'tensorflow.js backend chosen')
      const loaded = await loadModel(tfl.tf, config.modelDir)
      runtime = createRuntime(tfl.tf, loaded.model, loaded.metadata)
      setModelInfo()
      log.info({ modelVersion: loaded.metadata.modelVersion, threshold: loaded.metadata.threshold, features: runtime.extractor.width }, 'model loaded')

      if (ownRedis) await redis.connect()
      producer = await openProducer()
      await supervisor.start()

      if (config.watchModel) {
        watcher = watch(config.modelDir, (_event, file) => {
          if (file !== null && !String(file).startsWith('metadata.json')) return
          if (reloadTimer !== null) clearTimeout(reloadTimer)
          reloadTimer = setTimeout(() => { reloadTimer = null; void reloadModel() }, 300)
        })
        watcher.on('error', err => log.warn({ err: err.message }, 'model directory watch failed; SIGHUP still reloads'))
      }
      evictTimer = setInterval(() => {
        const n = runtime?.extractor.evict(clock() - config.evictAfterS * 1_000) ?? 0
        batches.forget(id => runtime?.extractor.has(id) === true)
        if (n > 0) log.debug({ cars: n }, 'quiet cars evicted from memory')
      }, 60_000)
      evictTimer.unref()

      ops = createOpsServer({
        host: config.host,
        port: config.opsPort,
        registry,
        log,
        checks: ['model', 'kafka', 'consuming', 'redis'].map(name => ({ name, check: () => readiness()[name] === true }))
      })
      const opsPort = await ops.start()
      return { opsPort }
    },
    async stop () {
      stopping = true
      watcher?.close()
      if (reloadTimer !== null) clearTimeout(reloadTimer)
      if (evictTimer !== null) clearInterval(evictTimer)
      // kafkajs waits for the eachBatch in hand, which waits for its flush.
      await supervisor.stop().catch(err => log.warn({ err: (err as Error).message }, 'consumer disconnect failed'))
      await flushing
      await producer?.disconnect().catch(() => {})
      pipeline.close()
      if (ownRedis) await redis.quit().catch(() => {})
      await ops?.stop()
      runtime?.model.dispose()
      runtime = null
      log.info('scorer stopped')
    }
  }
}
