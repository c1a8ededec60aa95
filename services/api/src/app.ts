// The api as one fastify plugin: rate limits, OpenAPI (/docs), the open health endpoints, and the
// authenticated routes: /v1 (JSON API and its event stream) and /dashboard. Every route under /v1,
// /dashboard and /docs goes through the auth hook; nothing else is served.
import rateLimit from '@fastify/rate-limit'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance, onRequestHookHandler } from 'fastify'
import type { ReadinessCheck } from '../../shared/src/ops-server.js'
import type { ApiContext } from './context.js'
import { requireAuth } from './plugins/auth.js'
import { opsRoutes } from './plugins/ops.js'
import { commandRoutes } from './routes/commands.js'
import { dashboardRoutes } from './routes/dashboard.js'
import { dashboardViewRoutes } from './routes/dashboard-views.js'
import { rejectionRoutes } from './routes/rejections.js'
import { lifecycleRoutes } from './routes/lifecycle.js'
import { streamRoutes } from './routes/stream.js'
import { vehicleRoutes } from './routes/vehicles.js'

export interface AppOptions {
  ctx: ApiContext
  checks: ReadinessCheck[]
  authHook: onRequestHookHandler
}

const OPEN_PATHS = new Set(['/healthz', '/readyz'])

export async function fleetApi (app: FastifyInstance, opts: AppOptions): Promise<void> {
  const { ctx } = opts
  await app.register(rateLimit, {
    global: true,
    max: ctx.config.rateLimitPerMin,
    timeWindow: 60_000,
    allowList: request => OPEN_PATHS.has(request.url.split('?')[0] ?? ''),
    errorResponseBuilder: (_request, context) => ({ statusCode: 429, code: 'FST_RATE_LIMITED', message: `rate limit: at most ${context.max} requests per ${context.after}; retry later` })
  })
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'fleet operations API', version: '1', description: 'Cars, their state and anomalies, and cloud-to-car commands. Errors are application/problem+json. Authenticate with `X-API-Key`, `Authorization: Bearer <API key or JWT>`, or Basic (API key as password); read-only keys read, operator keys may also send commands.' },
      components: {
        securitySchemes: {
          apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
          bearer: { type: 'http', scheme: 'bearer', description: 'an API key or an HS256 JWT with sub and role' },
          basic: { type: 'http', scheme: 'basic', description: 'any user name, the API key as password' }
        }
      },
      security: [{ apiKey: [] }, { bearer: [] }, { basic: [] }],
      tags: [{ name: 'vehicles' }, { name: 'commands' }, { name: 'anomalies' }, { name: 'fleet' }]
    }
  })
  await app.register(swaggerUi, { routePrefix: '/docs', uiHooks: { onRequest: opts.authHook }, staticCSP: true })
  await app.register(opsRoutes, { checks: opts.checks })
  await app.register(async v1 => {
    requireAuth(v1, opts.authHook)
    await v1.register(vehicleRoutes, { ctx })
    await v1.register(commandRoutes, { ctx })
    await v1.register(streamRoutes, { ctx })
    await v1.register(rejectionRoutes, { redis: ctx.redis })
    await v1.register(lifecycleRoutes, { lifecycle: ctx.lifecycle })
    await v1.register(dashboardViewRoutes, { ctx })
  }, { prefix: '/v1' })
  await app.register(async ui => {
    requireAuth(ui, opts.authHook)
    await ui.register(dashboardRoutes, { mapTilesUrl: ctx.config.mapTilesUrl })
  })
}
