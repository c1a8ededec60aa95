// The open endpoints of the api's port: /healthz (alive), /readyz (Redis, Kafka, the anomaly feed
// and the command updates all working). /metrics is on the ops port only (index.ts): what it
// tells (keys' names, routes, load) is not for the internet.
import type { FastifyInstance } from 'fastify'
import type { ReadinessCheck } from '../../../shared/src/ops-server.js'

export async function opsRoutes (app: FastifyInstance, opts: { checks: ReadinessCheck[] }): Promise<void> {
  const open = { config: { rateLimit: false as const }, schema: { hide: true } }
  app.get('/healthz', open, async () => ({ status: 'ok' }))
  app.get('/readyz', open, async (_request, reply) => {
    const checks: Record<string, boolean> = {}
    for (const c of opts.checks) {
      try {
        checks[c.name] = await c.check()
      } catch {
        checks[c.name] = false
      }
    }
    const ready = Object.values(checks).every(Boolean)
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', checks })
  })
}
