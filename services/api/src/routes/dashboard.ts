// The live dashboard: one page and its script and styles (served from memory, strict CSP). It
// reads the same authenticated /v1 API as everyone else; the browser authenticates with Basic
// (API key as password) after the api's 401 challenge.
import type { FastifyInstance } from 'fastify'
import { DASHBOARD_CSS, DASHBOARD_HTML, DASHBOARD_JS } from '../dashboard/assets.js'

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

export async function dashboardRoutes (app: FastifyInstance): Promise<void> {
  const hide = { schema: { hide: true } }
  const send = (type: string, body: string) => async (_request: unknown, reply: import('fastify').FastifyReply) =>
    reply.type(type).header('content-security-policy', CSP).header('cache-control', 'no-store').send(body)
  app.get('/', hide, async (_request, reply) => reply.redirect('/dashboard'))
  app.get('/dashboard', hide, send('text/html; charset=utf-8', DASHBOARD_HTML))
  app.get('/dashboard/app.js', hide, send('text/javascript; charset=utf-8', DASHBOARD_JS))
  app.get('/dashboard/app.css', hide, send('text/css; charset=utf-8', DASHBOARD_CSS))
}
