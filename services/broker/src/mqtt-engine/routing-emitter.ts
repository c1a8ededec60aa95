// Routes aedes' message bus by topic. Only what another pod may need crosses Redis: cloud-to-car
// commands (vehicles/{id}/commands, which the commander may publish on any pod) and the $SYS topics
// aedes and its persistence listen to across pods (heartbeats, births, session takeover,
// subscription broadcasts). Everything else stays on a local in-memory emitter. Telemetry reaches
// neither: its route is Kafka.
//
// A car's own subscription to its commands topic costs no Redis subscription: each pod holds one
// pattern subscription to every commands topic and hands what arrives to a table of exact topics
// (one Map entry per car instead of a Redis channel, a trie path and two Redis round trips per
// connect and disconnect). Every pod therefore sees every command; commands are rare next to
// telemetry, so that costs less than a Redis channel per connected car.
import mqemitter, { type MQEmitter, type Message } from 'mqemitter'

type Notify = (message: Message, done: () => void) => void
type Done = (err?: Error) => void

export interface RoutingEmitterOptions {
  local: MQEmitter
  shared: MQEmitter
}

const COMMANDS_SHAPE = ['vehicles', null, 'commands'] as const
/** The one Redis pattern subscription that carries every car's commands to every pod. */
export const COMMANDS_FILTER = 'vehicles/+/commands'

/** $SYS topics aedes publishes that nothing listens to on another pod (nor may any MQTT client). */
const LOCAL_SYS_SUFFIXES = ['/new/subscribes', '/new/unsubscribes', '/disconnect/clients']

const isCommandsTopic = (topic: string) => {
  const levels = topic.split('/')
  return levels.length === 3 && levels[0] === 'vehicles' && levels[2] === 'commands'
}

/** An exact commands topic (no wildcards): a car's own subscription. */
export function isExactCommandsTopic (filter: string): boolean {
  return isCommandsTopic(filter) && !filter.includes('+') && !filter.includes('#')
}

/** True when `topic` (no wildcards) is one the shared emitter carries. */
export function isSharedTopic (topic: string): boolean {
  if (topic.startsWith('$SYS/')) return !LOCAL_SYS_SUFFIXES.some(s => topic.endsWith(s))
  return isCommandsTopic(topic)
}

/** Could the filter match some shared topic? */
export function filterMayMatchShared (filter: string): boolean {
  if (filter.startsWith('$SYS/')) return true
  const levels = filter.split('/')
  for (let i = 0; i < COMMANDS_SHAPE.length; i++) {
    const l = levels[i]
    if (l === '#') return true
    const want = COMMANDS_SHAPE[i]
    if (l === undefined || (l !== '+' && want !== null && l !== want)) return false
  }
  return levels.length === COMMANDS_SHAPE.length || levels[COMMANDS_SHAPE.length] === '#'
}

/** Could the filter match some local topic? Only an exact commands topic or a non-$SYS $ filter cannot. */
export function filterMayMatchLocal (filter: string): boolean {
  if (filter.startsWith('$SYS/')) return true // the $SYS topics in LOCAL_SYS_SUFFIXES
  if (filter.startsWith('$')) return false // [MQTT-4.7.2-1]: wildcards never match $ topics
  return !isExactCommandsTopic(filter)
}

/**
 * Listeners by exact topic: a Map entry per topic holding the listener itself (an array only when
 * a topic has several), called like mqemitter calls its listeners.
 */
export function createTopicTable () {
  const listeners = new Map<string, Notify | Notify[]>()
  return {
    get size () { return listeners.size },
    on (topic: string, notify: Notify) {
      const cur = listeners.get(topic)
      if (cur === undefined) listeners.set(topic, notify)
      else if (typeof cur === 'function') listeners.set(topic, [cur, notify])
      else cur.push(notify)
    },
    removeListener (topic: string, notify: Notify) {
      const cur = listeners.get(topic)
      if (cur === notify) listeners.delete(topic)
      else if (Array.isArray(cur)) {
        const rest = cur.filter(n => n !== notify)
        if (rest.length === 0) listeners.delete(topic)
        else listeners.set(topic, rest.length === 1 ? rest[0]! : rest)
      }
    },
    emit (message: Message, done: () => void) {
      const cur = listeners.get(message.topic)
      if (cur === undefined) return done()
      if (typeof cur === 'function') return cur(message, () => done())
      let left = cur.length
      for (const n of [...cur]) n(message, () => { if (--left === 0) done() })
    }
  }
}

export function createRoutingEmitter ({ local, shared }: RoutingEmitterOptions): MQEmitter {
  const commands = createTopicTable()
  // Subscriptions to exact commands topics answer once the pattern subscription is in place.
  const bridged = new Promise<void>(resolve => shared.on(COMMANDS_FILTER, (message, done) => commands.emit(message, done), () => resolve()))
  const both = (filter: string, op: (e: MQEmitter, done: () => void) => void, done?: Done) => {
    const targets = [filterMayMatchLocal(filter) ? local : null, filterMayMatchShared(filter) ? shared : null].filter(e => e !== null)
    let left = targets.length
    if (left === 0) {
      if (done) setImmediate(done)
      return
    }
    for (const e of targets) op(e, () => { if (--left === 0 && done) done() })
  }
  const router = {
    on (topic: string, notify: Notify, done?: Done) {
      if (isExactCommandsTopic(topic)) {
        commands.on(topic, notify)
        if (done) void bridged.then(() => setImmediate(done))
      } else {
        both(topic, (e, d) => e.on(topic, notify, d), done)
      }
      return router
    },
    removeListener (topic: string, notify: Notify, done?: Done) {
      if (isExactCommandsTopic(topic)) {
        // Like mqemitter: the listener goes on the next turn, so a delivery under way finishes.
        setImmediate(() => {
          commands.removeListener(topic, notify)
          done?.()
        })
      } else {
        both(topic, (e, d) => e.removeListener(topic, notify, d), done)
      }
      return router
    },
    emit (message: Message, cb?: Done) {
      (isSharedTopic(message.topic) ? shared : local).emit(message, cb)
      return router
    },
    close (cb: () => void) {
      let left = 2
      const done = () => { if (--left === 0) cb() }
      local.close(done)
      shared.close(done)
    },
    get current () { return local.current + shared.current },
    get concurrent () { return local.concurrent }
  }
  return router as unknown as MQEmitter
}

export function createLocalEmitter (): MQEmitter {
  return mqemitter({ matchEmptyLevels: true })
}
