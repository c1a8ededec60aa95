// aedes-persistence-redis ships no types; this is the part fleet uses.
declare module 'aedes-persistence-redis' {
  import type { Redis } from 'ioredis'
  interface RedisPersistenceOptions {
    conn?: Redis
    maxSessionDelivery?: number
    packetTTL?: (packet: unknown) => number
  }
  export default function redisPersistence (opts?: RedisPersistenceOptions): unknown
}

// msgpack-lite ships no types; aedes-persistence-redis encodes session subscriptions with it.
declare module 'msgpack-lite' {
  const msgpack: { encode: (value: unknown) => Buffer, decode: (buf: Uint8Array) => unknown }
  export default msgpack
}
