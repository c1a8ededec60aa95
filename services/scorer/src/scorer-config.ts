// The scorer's settings: every one an environment variable with a default, validated at start.
import { bool, int, oneOf, readConfig, str, type ConfigOf } from '../../shared/src/config.js'
import { hostSetting, kafkaSettings, logSettings, opsPortSetting, redisSettings } from '../../shared/src/common-config.js'
import { BACKEND_CHOICES } from './tf-backend.js'

export const scorerSettings = {
  ...hostSetting,
  ...kafkaSettings,
  ...redisSettings,
  ...logSettings,
  ...opsPortSetting('FLEET_SCORER_OPS_PORT', 9102),
  groupId: str('FLEET_SCORER_GROUP_ID', 'fleet-scorer', 'Kafka consumer group of the scorer pods'),
  fromBeginning: bool('FLEET_SCORER_FROM_BEGINNING', false, 'a new consumer group starts at the oldest telemetry instead of the newest'),
  modelDir: str('FLEET_SCORER_MODEL_DIR', 'model', 'directory with model.json, weights.bin and metadata.json'),
  watchModel: bool('FLEET_SCORER_WATCH_MODEL', true, 'reload the model when metadata.json changes (SIGHUP reloads too)'),
  backend: oneOf('FLEET_SCORER_BACKEND', 'auto', 'TensorFlow.js backend: auto (tfjs-node if built, else wasm), tensorflow, wasm or cpu', BACKEND_CHOICES),
  tfjsNodeDir: str('FLEET_SCORER_TFJS_NODE_DIR', '', 'where scripts/build-tfjs-node.sh put tfjs-node (default ~/.cache/fleet/tfjs-node-4.22.0)'),
  tfThreads: int('FLEET_SCORER_TF_THREADS', 1, 'threads the tensorflow backend (tfjs-node) computes with; 1 keeps a micro-batch on one core, where a second thread cost more CPU than it saved (docs/benchmarks.md); the wasm backend always uses one', 1, 64),
  maxBatchRows: int('FLEET_SCORER_MAX_BATCH', 8_192, 'most rows in one inference call', 1, 1_000_000),
  overlapRows: int('FLEET_SCORER_OVERLAP_ROWS', 2_048, 'a micro-batch is scored in parts of about this many rows (each car in one part), each part\'s results sent to Redis and Kafka before the next is scored, so that they are written while the scorer goes on; 0 = the whole batch, then its writes', 0, 1_000_000),
  lingerMs: int('FLEET_SCORER_LINGER_MS', 2, 'how long a micro-batch waits for other partitions\' records before scoring', 0, 1_000),
  fetchMinBytes: int('FLEET_SCORER_FETCH_MIN_BYTES', 524_288, 'Kafka holds a fetch until this much telemetry is there (or FLEET_SCORER_FETCH_MAX_WAIT_MS passed): fewer, fuller fetches and batches', 1, 16_777_216),
  fetchMaxWaitMs: int('FLEET_SCORER_FETCH_MAX_WAIT_MS', 250, 'longest a fetch waits for FLEET_SCORER_FETCH_MIN_BYTES (adds at most this to publish→score at low rates)', 0, 10_000),
  fetchMaxBytes: int('FLEET_SCORER_FETCH_MAX_BYTES', 4_194_304, 'most telemetry bytes one fetch brings, however far behind the scorer is: bounds a micro-batch (4 MiB is about 7,000 messages, one inference call)', 65_536, 104_857_600),
  fetchMaxPartitionBytes: int('FLEET_SCORER_FETCH_MAX_PARTITION_BYTES', 1_048_576, 'most bytes one fetch brings from one partition', 16_384, 104_857_600),
  produceMaxBytes: int('FLEET_SCORER_PRODUCE_MAX_BYTES', 1_000_000, 'most record bytes in one produce request (anomalies, scores, DLQ); the scorer also stays under the output topics\' max.message.bytes, read from Kafka at start', 16_384, 104_857_600),
  produceMaxRecords: int('FLEET_SCORER_PRODUCE_MAX_RECORDS', 10_000, 'most records in one produce request', 1, 1_000_000),
  stallS: int('FLEET_SCORER_STALL_S', 30, '/readyz fails when a batch has been in hand this long, or the scorer is behind and has scored nothing for this long', 1, 3_600),
  restartBackoffMs: int('FLEET_SCORER_RESTART_BACKOFF_MS', 1_000, 'wait before restarting a crashed consumer; doubles with each restart in a row without progress', 10, 600_000),
  restartBackoffMaxMs: int('FLEET_SCORER_RESTART_BACKOFF_MAX_MS', 30_000, 'longest wait before a consumer restart', 10, 3_600_000),
  maxRestarts: int('FLEET_SCORER_MAX_RESTARTS', 10, 'consumer restarts in a row without a batch scored before the scorer gives up and its process exits non-zero (0 = never give up)', 0, 1_000_000),
  partitionsConcurrently: int('FLEET_SCORER_PARTITIONS_CONCURRENTLY', 12, 'partitions fetched into one micro-batch at a time', 1, 1_000),
  publishScores: bool('FLEET_SCORER_PUBLISH_SCORES', false, 'also produce every score to vehicle.scores (anomalies always go to vehicle.anomalies)'),
  maxRecordBytes: int('FLEET_SCORER_MAX_RECORD_BYTES', 65_536, 'largest telemetry record scored; larger ones go to the DLQ', 256, 16_777_216),
  stateTtlS: int('FLEET_SCORER_STATE_TTL_S', 604_800, 'a car\'s latest state in Redis expires after this long without telemetry', 60, 31_536_000),
  historyLength: int('FLEET_SCORER_HISTORY_LENGTH', 120, 'points of each car\'s recent history kept in Redis for the dashboard\'s car page (ts, score, 8 signals; ~80 bytes each); 0 = none', 0, 10_000),
  historyEveryMs: int('FLEET_SCORER_HISTORY_EVERY_MS', 5_000, 'at most one history point per car per this much car time (120 points × 5 s = the last 10 minutes); a point costs the scorer ~10-20 µs of CPU, so this bounds the cost per row', 0, 3_600_000),
  historyTtlS: int('FLEET_SCORER_HISTORY_TTL_S', 900, 'a car\'s history expires after this long without a new point', 60, 31_536_000),
  evictAfterS: int('FLEET_SCORER_EVICT_AFTER_S', 900, 'per-car moving averages leave memory after this long without telemetry (Redis keeps them)', 10, 86_400)
}

export type ScorerConfig = ConfigOf<typeof scorerSettings>
export const loadScorerConfig = (env: NodeJS.ProcessEnv = process.env): ScorerConfig => readConfig(scorerSettings, env)
