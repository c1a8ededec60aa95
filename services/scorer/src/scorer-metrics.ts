// The scorer's Prometheus metrics (fleet_scorer_*), on the instance's own registry.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'

export function createScorerMetrics (registry: Registry) {
  const registers = [registry]
  return {
    rowsScored: new Counter({ name: 'fleet_scorer_rows_scored_total', help: 'telemetry messages scored (rate() = rows scored per second)', registers }),
    batchRows: new Histogram({ name: 'fleet_scorer_batch_rows', help: 'messages per micro-batch (one inference call per batch)', buckets: [1, 8, 32, 128, 512, 2_048, 8_192, 32_768], registers }),
    inferenceSeconds: new Histogram({ name: 'fleet_scorer_inference_seconds', help: 'the model\'s forward pass per micro-batch, reading the result included', buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers }),
    batchPhaseSeconds: new Counter({ name: 'fleet_scorer_batch_phase_seconds_total', help: 'wall time inside micro-batches by phase: prepare (parse, check, adopt new cars from Redis), score (features, inference, results), write (waiting for Redis and Kafka to take the results); the rest of the time the scorer waits for records (fetches)', labelNames: ['phase'], registers }),
    batchSeconds: new Histogram({ name: 'fleet_scorer_batch_seconds', help: 'a micro-batch from fetch to results written (Redis and Kafka)', buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers }),
    recordAgeSeconds: new Histogram({ name: 'fleet_scorer_record_age_seconds', help: 'from the Kafka record timestamp (the broker\'s write) to the batch\'s results written', buckets: [0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 10, 60], registers }),
    consumerLag: new Gauge({ name: 'fleet_scorer_consumer_lag', help: 'messages behind the partition end, as of the last batch', labelNames: ['partition'], registers }),
    anomalies: new Counter({ name: 'fleet_scorer_anomalies_total', help: 'anomalous messages, by likely failure mode', labelNames: ['mode'], registers }),
    dlq: new Counter({ name: 'fleet_scorer_dlq_total', help: 'records sent to vehicle.telemetry.dlq, by reason', labelNames: ['reason'], registers }),
    modelInfo: new Gauge({ name: 'fleet_scorer_model_info', help: 'the model in use (value 1) with its version and backend', labelNames: ['version', 'backend'], registers }),
    modelReloads: new Counter({ name: 'fleet_scorer_model_reloads_total', help: 'model reload attempts by result', labelNames: ['result'], registers }),
    cars: new Gauge({ name: 'fleet_scorer_cars', help: 'cars with moving averages in memory', registers }),
    consumerRestarts: new Counter({ name: 'fleet_scorer_consumer_restarts_total', help: 'crashed consumers replaced by a new one, by the error that stopped them', labelNames: ['error'], registers }),
    produceMaxBytes: new Gauge({ name: 'fleet_scorer_produce_max_bytes', help: 'record bytes per produce request in use (FLEET_SCORER_PRODUCE_MAX_BYTES or the output topics\' max.message.bytes, the smaller)', registers }),
    batchFailures: new Counter({ name: 'fleet_scorer_batch_failures_total', help: 'micro-batches whose results could not be written (retried, offsets not committed)', registers })
  }
}

export type ScorerMetrics = ReturnType<typeof createScorerMetrics>
