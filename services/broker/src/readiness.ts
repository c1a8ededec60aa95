// What a broker pod's /readyz decides: whether THIS pod can take a car now. Kafka and Redis are
// shared by every pod, so their outage is reported but never makes the pod unready: were it
// otherwise, one backend outage would take every broker out of the load balancer at once and a
// reconnecting car would find no pod at all, while any pod could still accept it and hold its
// PUBACKs (bounded per car and per pod) until Kafka is back. docs/operations.md says more.
import type { ReadinessCheck } from '../../shared/src/ops-server.js'

export interface ReadinessInputs {
  /** listeners open and not draining (SIGTERM) */
  accepting: () => boolean
  connected: () => number
  maxConnections: number
  /** bytes of car messages awaiting Kafka, and the pod's bound on them (0 = none) */
  heldBytes: () => number
  maxHeldBytes: number
  kafka: () => boolean
  redis: () => boolean
}

export function brokerReadiness (i: ReadinessInputs): ReadinessCheck[] {
  return [
    { name: 'accepting', check: i.accepting },
    // A full pod answers CONNACK 3; the load balancer had better send the car elsewhere.
    { name: 'capacity', check: () => i.connected() < i.maxConnections },
    // Below its bound on held bytes; at it the pod still accepts cars and holds their first
    // PUBACKs, and a Kafka outage brings every pod there together: reported, not deciding.
    { name: 'held', check: () => i.maxHeldBytes === 0 || i.heldBytes() < i.maxHeldBytes, report: true },
    { name: 'kafka', check: i.kafka, report: true },
    { name: 'redis', check: i.redis, report: true }
  ]
}
