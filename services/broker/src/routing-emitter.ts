// Routes aedes' message bus by topic. Only what another pod may need crosses Redis: cloud-to-car
// commands (vehicles/{id}/commands, which the commander may publish on any pod) and aedes' own
// $SYS topics (broker heartbeats, session takeover, subscription broadcasts). Everything else
// stays on a local in-memory emitter. Telemetry never reaches either: its route is Kafka.
import mqemitter, { type MQEmitter, type Message } from 'mqemitter'

type Notify = (message: Message, done: () => void) => void
type Done = (err?: Error) => void

export interface RoutingEmitterOptions {
  local: MQEmitter
  shared: MQEmitter
}

const COMMANDS_SHAPE = ['vehicles', null, 'commands'] as const

/** True when `topic` (no wildcards) is one the shared emitter carries. */
export function isSharedTopic (topic: string): boolean {
  if (topic.startsWith('$SYS/')) return true
  const levels = topic.split('/')
  return levels.length === 3 && levels[0] === 'vehicles' && levels[2] === 'commands'
}

/** Could the filter match some shared topic? */
export function filterMayMatchShared (filter: string): boolean {
  if (filter.startsWith('$SYS/') || filter === '$SYS/#') return true
  const levels = filter.split('/')
  for (let i = 0; i < COMMANDS_SHAPE.length; i++) {
    const l = levels[i]
    if (l === '#') return true
    const want = COMMANDS_SHAPE[i]
    if (l === undefined || (l !== '+' && want !== null && l !== want)) return false
  }
  return levels.length === COMMANDS_SHAPE.length || levels[COMMANDS_SHAPE.length] === '#'
}

/** Could the filter match some local topic? Only an exact commands topic or a $SYS filter cannot. */
export function filterMayMatchLocal (filter: string): boolean {
  if (filter.startsWith('$')) return false // [MQTT-4.7.2-1]: wildcards never match $ topics
  return !(isSharedTopic(filter) && !filter.includes('+') && !filter.includes('#'))
}

export function createRoutingEmitter ({ local, shared }: RoutingEmitterOptions): MQEmitter {
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
      both(topic, (e, d) => e.on(topic, notify, d), done)
      return router
    },
    removeListener (topic: string, notify: Notify, done?: Done) {
      both(topic, (e, d) => e.removeListener(topic, notify, d), done)
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
