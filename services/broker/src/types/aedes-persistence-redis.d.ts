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
