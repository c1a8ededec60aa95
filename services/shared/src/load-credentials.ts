// Credentials for load tools and the simulator: provisions the given cars in Redis with one
// pipelined write per 5,000 (credential-store.ts provisionBulk) and returns their passwords, or
// reads them from a file of `vehicleId<TAB>password` lines (a fleet provisioned through the api).
import { readFileSync } from 'node:fs'
import { provisionBulk } from './credential-store.js'
import { createRedis, type RedisSettings } from './redis-connection.js'

export async function provisionForLoad (where: RedisSettings | string, vehicleIds: readonly string[]): Promise<Map<string, string>> {
  const redis = createRedis(typeof where === 'string' ? { redisUrl: where } : where, { maxRetriesPerRequest: 2 })
  try {
    return await provisionBulk(redis, vehicleIds)
  } finally {
    redis.disconnect()
  }
}

export function readCredentialsFile (path: string): Map<string, string> {
  const out = new Map<string, string>()
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const [id, password] = line.trim().split('\t')
    if (id && password) out.set(id, password)
  }
  return out
}
