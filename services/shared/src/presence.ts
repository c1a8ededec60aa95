// Which cars are connected, kept in Redis by the broker pods and read by the api:
//   fleet:online                 set of connected vehicle ids
//   fleet:presence:{vehicleId}   hash { online: '1'|'0', brokerId, conn, since (ISO time) }
// `conn` identifies one connection, so a pod that loses a car to another pod (session takeover)
// does not mark it offline after the new pod marked it online.

export const ONLINE_VEHICLES_KEY = 'fleet:online'
export const presenceKey = (vehicleId: string) => `fleet:presence:${vehicleId}`

export interface Presence { online: boolean, brokerId: string, since: string }

/** KEYS[1]=presence hash, KEYS[2]=online set; ARGV: conn, vehicleId, since. Clears only its own connection. */
export const MARK_OFFLINE_LUA = `
if redis.call('HGET', KEYS[1], 'conn') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'online', '0', 'since', ARGV[3])
  redis.call('SREM', KEYS[2], ARGV[2])
  return 1
end
return 0`

export function parsePresence (hash: Record<string, string>): Presence | null {
  if (hash.online === undefined) return null
  return { online: hash.online === '1', brokerId: hash.brokerId ?? '', since: hash.since ?? '' }
}
