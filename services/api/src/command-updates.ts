// Wakes the api's waiters when a command record changes: one Redis subscription to
// fleet:commands:updates (the commander's projection publishes there after each move), fanned out
// in process to long-polls, per-command event streams and the dashboard's stream.
import { EventEmitter } from 'node:events'
import type { Redis } from 'ioredis'
import { COMMAND_UPDATES_CHANNEL, type CommandUpdate } from '../../shared/src/command-store.js'

export interface CommandUpdates {
  start: () => Promise<void>
  stop: () => void
  /** Calls `fn` for every update; returns the unsubscribe function. */
  onUpdate: (fn: (u: CommandUpdate) => void) => () => void
  ready: () => boolean
}

export function createCommandUpdates (subscriber: Redis): CommandUpdates {
  const emitter = new EventEmitter()
  emitter.setMaxListeners(0)
  let subscribed = false
  subscriber.on('message', (channel: string, message: string) => {
    if (channel !== COMMAND_UPDATES_CHANNEL) return
    try {
      const u = JSON.parse(message) as CommandUpdate
      if (typeof u.commandId === 'string') emitter.emit('update', u)
    } catch {}
  })
  return {
    async start () {
      await subscriber.subscribe(COMMAND_UPDATES_CHANNEL)
      subscribed = true
    },
    stop () {
      subscribed = false
      subscriber.disconnect()
    },
    onUpdate (fn) {
      emitter.on('update', fn)
      return () => emitter.off('update', fn)
    },
    ready: () => subscribed && subscriber.status === 'ready'
  }
}
