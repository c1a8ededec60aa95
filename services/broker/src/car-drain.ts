// A draining broker (SIGTERM) moves its cars away at a bounded rate instead of dropping them all
// at once, so their reconnects reach the other pods as a stream they can absorb (each pod admits
// FLEET_CONNECT_RATE_PER_S). A car picked to leave is no longer read; it is closed once Kafka has
// acknowledged what it sent, so it gets every PUBACK it is owed and resends nothing.
import type { Client } from './mqtt-engine/index.js'

export interface CarDrainOptions {
  /** the cars connected now */
  clients: () => Iterable<Client>
  /** cars moved per second; raised when needed to move them all by `moveByMs` */
  ratePerSecond: number
  /** every car is asked to leave by then (ms from the start) */
  moveByMs: number
  /** a car not yet clear of Kafka by then is closed anyway: its unacknowledged messages it resends elsewhere */
  closeByMs: number
  /** stop reading the car */
  pause: (client: Client) => void
  /** the car's messages awaiting Kafka */
  pendingOf: (client: Client) => number
  /** ends the car's connection (MQTT 5: DISCONNECT 0x8B server shutting down) */
  close: (client: Client) => void
  tickMs?: number
  now?: () => number
}

export interface CarDrainResult {
  cars: number
  /** closed with nothing owed */
  clean: number
  /** closed at closeByMs with PUBACKs still owed */
  forced: number
  /** the rate used (cars/s) */
  rate: number
  ms: number
}

export async function drainCars (o: CarDrainOptions): Promise<CarDrainResult> {
  const now = o.now ?? Date.now
  const tickMs = o.tickMs ?? 50
  const started = now()
  const queue = [...o.clients()]
  const rate = Math.max(o.ratePerSecond, Math.ceil(queue.length / Math.max(o.moveByMs / 1_000, 0.001)))
  const leaving = new Set<Client>()
  let clean = 0
  let forced = 0
  let next = 0
  let budget = 0
  while (next < queue.length || leaving.size > 0) {
    const elapsed = now() - started
    budget = Math.min(queue.length - next, rate * elapsed / 1_000 - next)
    for (; budget >= 1 && next < queue.length; budget--) {
      const client = queue[next++]!
      o.pause(client)
      leaving.add(client)
    }
    for (const client of leaving) {
      if (o.pendingOf(client) === 0) {
        clean++
      } else if (elapsed >= o.closeByMs) {
        forced++
      } else {
        continue
      }
      leaving.delete(client)
      o.close(client)
    }
    if (next < queue.length || leaving.size > 0) await new Promise(resolve => setTimeout(resolve, tickMs))
  }
  return { cars: queue.length, clean, forced, rate, ms: now() - started }
}
