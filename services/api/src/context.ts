// What the route plugins share: configuration and the services behind the routes.
import type { Redis } from 'ioredis'
import type { CommandIssuer } from '../../shared/src/command-issuer.js'
import type { CommandStore } from '../../shared/src/command-store.js'
import type { AnomalyFeed } from './anomaly-feed.js'
import type { ApiConfig } from './api-config.js'
import type { CarHistoryReader } from './car-history-reader.js'
import type { CommandUpdates } from './command-updates.js'
import type { FleetPositions } from './fleet-positions.js'
import type { FleetReader } from './fleet-reader.js'
import type { FleetSampler } from './fleet-sampler.js'
import type { StreamLimiter } from './sse.js'
import type { VehicleLifecycle } from '../../shared/src/vehicle-lifecycle.js'

export interface ApiContext {
  config: ApiConfig
  store: CommandStore
  issuer: CommandIssuer
  reader: FleetReader
  feed: AnomalyFeed
  sampler: FleetSampler
  updates: CommandUpdates
  streams: StreamLimiter
  /** For routes that only read a key or two (rejections). */
  redis: Redis
  lifecycle: VehicleLifecycle
  positions: FleetPositions
  history: CarHistoryReader
}
