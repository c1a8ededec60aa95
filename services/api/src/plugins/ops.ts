// The open endpoints of the api's port: /healthz (alive), /readyz (Redis, Kafka, the anomaly feed
// and the command updates all working), /metrics (Prometheus).
import type { FastifyInstance } from 'fastify'
import type { Registry } from 'prom-client'
import type { ReadinessCheck } from '../../../shared/src/ops-server.js'

export async function opsRoutes (app: FastifyInstance, opts: { registry: Registry, checks: ReadinessCheck[] }): Promise<void> {
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
  app.get('/metrics', open, async (_request, reply) => {
    reply.header('content-type', opts.registry.contentType)
    return opts.registry.metrics()
  })
}
