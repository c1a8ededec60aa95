// The set of every car the fleet knows, kept by whoever makes a car known, so the api pages the
// list by id straight from Redis (ZRANGE BYLEX) instead of SCANning the keyspace:
//   fleet:vehicles:known   sorted set, every score 0 (members then sort by id, bytewise), written by
//                          provisioning and revocation (credential-store.ts), the broker pods at a
//                          car's connect (presence), the scorer the first time it writes a car's
//                          state; a car leaves it only when decommissioned (vehicle-lifecycle.ts),
//                          as the hashes it stands for are never removed otherwise.
//   fleet:vehicles:known:built    set once the set holds every car of a Redis written before it
//                                 existed (services/api/src/vehicle-index-build.ts)
//   fleet:vehicles:known:building lock of the one api process building it

export const KNOWN_VEHICLES_KEY = 'fleet:vehicles:known'
export const KNOWN_VEHICLES_BUILT_KEY = 'fleet:vehicles:known:built'
export const KNOWN_VEHICLES_LOCK_KEY = 'fleet:vehicles:known:building'

/** ZADD arguments (score, member…) for these cars: every score 0, so the order is the ids'. */
export const knownMembers = (vehicleIds: Iterable<string>): Array<string | number> => {
  const out: Array<string | number> = []
  for (const id of vehicleIds) out.push(0, id)
  return out
}
