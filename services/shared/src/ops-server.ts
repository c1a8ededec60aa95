// The ops endpoints every process serves: /metrics (Prometheus), /healthz (the event loop answers:
// liveness), /readyz (this process can take work now: readiness). A check marked `report` is shown
// in /readyz's body but does not decide it (e.g. a broker's Kafka, shared by every pod).
import Fastify, { type FastifyInstance } from 'fastify'
import type { Registry } from 'prom-client'
import type { Logger } from './logger.js'

export interface ReadinessCheck {
  name: string
  check: () => boolean | Promise<boolean>
  /** shown under `dependencies`, never makes the process unready */
  report?: boolean
}

export interface OpsServer {
  start: () => Promise<number>
  stop: () => Promise<void>
  app: FastifyInstance
}

export function createOpsServer (opts: { host: string, port: number, registry: Registry, checks: ReadinessCheck[], log: Logger }): OpsServer {
  const app = Fastify({ logger: false })
  app.get('/healthz', async () => ({ status: 'ok' }))
  app.get('/readyz', async (_req, reply) => {
    const results: Record<string, boolean> = {}
    const reported: Record<string, boolean> = {}
    for (const c of opts.checks) {
      let ok: boolean
      try {
        ok = await c.check()
      } catch {
        ok = false
      }
      if (c.report === true) reported[c.name] = ok
      else results[c.name] = ok
    }
    const ready = Object.values(results).every(Boolean)
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', checks: results, ...(Object.keys(reported).length > 0 ? { dependencies: reported } : {}) })
  })
  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', opts.registry.contentType)
    return opts.registry.metrics()
  })
  return {
    app,
    async start () {
      await app.listen({ host: opts.host, port: opts.port })
      const addr = app.server.address()
      const port = typeof addr === 'object' && addr ? addr.port : opts.port
      opts.log.info({ port }, 'ops endpoints listening')
      return port
    },
    async stop () {
      await app.close()
    }
  }
}
