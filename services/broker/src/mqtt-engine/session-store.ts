// Fleet's rules on top of aedes-persistence-redis (the shared session store). A persistent session
// holds exactly the subscriptions the ACL granted, and the connect path skips Redis work whose
// answer is known in advance, which is most of what a reconnect storm costs:
// - aedes persists every topic of a SUBSCRIBE packet once any one of them is granted, refused ones
//   included; stored, a refused topic would be broadcast to every pod's subscription index and get
//   another car's commands queued for this session. Only granted topics are stored.
// - A car that re-subscribes to what its session already holds (same topic and options, restored
//   at CONNECT) is not stored again: that would be SADD + HMSET + a $SYS broadcast through Redis
//   and back, for no change.
// - aedes' CONNECT asks to delete the client's previous will under a key that is never written
//   (`will:undefined:<id>`: a Client has no brokerId) — three Redis commands that change nothing.
// - Cars only subscribe to their commands topic, which is never retained (telemetry-intake.ts
//   clears the flag), so the retained lookup after such a SUBSCRIBE is skipped.
// - A car's PUBACK of a queued command removes it from the session's queue in Redis. aedes closes
//   the connection when that fails (Redis away), which only adds a reconnect storm to an outage:
//   the command stays queued either way and comes again at the car's next session. The failure is
//   counted and the connection stays.
// - A message routed while its car reconnects reaches the connection twice: live, through the
//   subscription restored before the CONNACK, and from the session's queue, read after it. Both
//   copies are the same stored packet. When the queued copy is refused (the command relay gives a
//   connection a command once), aedes clears the queue entry by the refused copy's packet id, and
//   the stored packet with it once no session holds it: the live copy, still unacknowledged, left
//   the queue (a car that dropped then never got it again) and its PUBACK found no packet (no
//   `delivered` event). The refused copy carries the live copy's id (written into the stored
//   packet) or one of its own (read before). Deliveries in flight are tracked per connection and
//   stored packet; refusing one of two leaves the queue alone, the PUBACK clears.
import { Readable } from 'node:stream'
import type { Client } from 'aedes'

/** What fleet reads of a packet aedes hands the store: a PUBLISH being delivered or refused
 *  (`brokerId`, `brokerCounter`: the stored packet), or a PUBACK / PUBCOMP. */
export interface OutgoingPacket { cmd?: string, messageId?: number, brokerId?: string, brokerCounter?: number }

export interface StoredSubscription { topic: string, qos: number, rh?: number, rap?: boolean, nl?: boolean }

/** The methods of aedes-persistence-redis (promise forms, as aedes 1.x calls them) trimmed here. */
export interface SessionStore {
  delWill: (client: { id: string, brokerId?: string }, cb?: unknown) => unknown
  addSubscriptions: (client: Client, subs: StoredSubscription[], cb?: unknown) => unknown
  createRetainedStreamCombi: (patterns: string[]) => Readable
  outgoingClearMessageId: (client: Client, packet: OutgoingPacket, cb?: unknown) => unknown
  outgoingUpdate: (client: Client, packet: OutgoingPacket, cb?: unknown) => unknown
}

export interface SessionRules {
  /** The ACL: may this client hold a subscription to this filter? */
  maySubscribe: (client: Client, filter: string) => boolean
  /** Filters no retained message can ever match. */
  neverRetained: (filter: string) => boolean
  /** A session write failed and was let go (the connection stays); `op` names it. */
  onStoreError?: (op: 'clear_delivered', err: Error) => void
}

/** One connection's deliveries of stored packets not yet PUBACKed or refused: the packet ids under
 *  which each stored packet (brokerId:brokerCounter) is out, and which stored packet each id names. */
interface InFlight { ids: Map<string, number[]>, packets: Map<number, string> }

type Held = Record<string, Omit<StoredSubscription, 'topic'> | undefined>

type Callback<T> = (err: Error | null, value?: T) => void
/** Answers aedes' callback when it passed one, else returns the promise. */
export function settle<T> (promise: Promise<T>, cb: unknown): Promise<T> | undefined {
  if (typeof cb !== 'function') return promise
  promise.then(v => (cb as Callback<T>)(null, v), err => (cb as Callback<T>)(err as Error))
  return undefined
}

const unchanged = (client: Client, sub: StoredSubscription) => {
  const held = (client as unknown as { subscriptions: Held }).subscriptions[sub.topic]
  return held !== undefined && held.qos === sub.qos && held.rh === sub.rh && held.rap === sub.rap && held.nl === sub.nl
}

/** Installs the rules on a persistence instance (in place) and returns it. */
export function applySessionRules<P extends SessionStore> (store: P, rules: SessionRules): P {
  const delWill = store.delWill.bind(store)
  const addSubscriptions = store.addSubscriptions.bind(store)
  const retained = store.createRetainedStreamCombi.bind(store)
  const clearDelivered = store.outgoingClearMessageId.bind(store) as (client: Client, packet: { messageId?: number }) => Promise<unknown>
  const update = store.outgoingUpdate.bind(store)
  const inFlight = new WeakMap<Client, InFlight>()
  const stored = (p: OutgoingPacket) => p.brokerId === undefined || p.brokerCounter === undefined ? undefined : `${p.brokerId}:${p.brokerCounter}`
  const forget = (f: InFlight, key: string, id: number) => {
    const ids = f.ids.get(key) ?? []
    const i = ids.indexOf(id)
    if (i >= 0) ids.splice(i, 1)
    if (ids.length === 0) f.ids.delete(key)
    if (!ids.includes(id) && f.packets.get(id) === key) f.packets.delete(id)
  }
  store.delWill = (client, cb) => {
    if (client.brokerId === undefined && cb === undefined) return Promise.resolve(null)
    return delWill(client, cb)
  }
  store.addSubscriptions = (client, subs, cb) => {
    const granted = subs.filter(s => rules.maySubscribe(client, s.topic))
    const changed = client.clean ? granted : granted.filter(s => !unchanged(client, s))
    if (changed.length === 0) {
      if (typeof cb === 'function') {
        process.nextTick(cb as (err: null, c: Client) => void, null, client)
        return undefined
      }
      return Promise.resolve(client)
    }
    return addSubscriptions(client, changed, cb)
  }
  store.createRetainedStreamCombi = patterns => {
    const wanted = patterns.filter(p => !rules.neverRetained(p))
    return wanted.length === 0 ? Readable.from([]) : retained(wanted)
  }
  store.outgoingUpdate = (client, packet, cb) => {
    const key = stored(packet)
    const id = packet.messageId
    if (packet.cmd === 'publish' && key !== undefined && id !== undefined) {
      const f: InFlight = inFlight.get(client) ?? { ids: new Map(), packets: new Map() }
      f.ids.set(key, [...f.ids.get(key) ?? [], id])
      f.packets.set(id, key)
      inFlight.set(client, f)
    }
    return update(client, packet, cb)
  }
  store.outgoingClearMessageId = (client, packet, cb) => {
    const f = inFlight.get(client)
    const id = packet.messageId
    if (f !== undefined && id !== undefined) {
      // a refused delivery (a PUBLISH), or the client's PUBACK / PUBCOMP (by its id alone)
      const key = packet.cmd === 'publish' ? stored(packet) : f.packets.get(id)
      if (key !== undefined) {
        const others = (f.ids.get(key)?.length ?? 0) > 1
        forget(f, key, id)
        // another delivery of the same stored packet is in flight: its PUBACK clears it
        if (packet.cmd === 'publish' && others) return settle(Promise.resolve(undefined), cb)
      }
    }
    return settle(clearDelivered(client, packet).catch((err: Error) => {
      rules.onStoreError?.('clear_delivered', err)
      return undefined
    }), cb)
  }
  return store
}
