// The live dashboard: the fleet page, each car's page, their scripts, styles and icon (served from
// memory, strict CSP). They read the same authenticated /v1 API as everyone else; the browser
// authenticates with Basic (API key as password) after the api's 401 challenge.
import type { FastifyInstance, FastifyReply } from 'fastify'
import { DASHBOARD_CSS, DASHBOARD_JS, dashboardHtml } from '../dashboard/assets.js'
import { CAR_CSS, CAR_HTML, CAR_JS, FAVICON_SVG } from '../dashboard/car-page.js'
import { COMMON_JS } from '../dashboard/common-script.js'
import { MAP_JS } from '../dashboard/map-script.js'
import { VehicleParamsSchema } from '../schemas/common.js'

/** Map tiles, when configured, are the one thing the page may load from elsewhere. */
export function dashboardCsp (mapTilesUrl: string): string {
  const tiles = mapTilesUrl === '' ? '' : ` ${new URL(mapTilesUrl.replaceAll(/\{[xyz]\}/g, '0')).origin}`
  return `default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:${tiles}; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`
}

export async function dashboardRoutes (app: FastifyInstance, opts: { mapTilesUrl: string }): Promise<void> {
  const csp = dashboardCsp(opts.mapTilesUrl)
  const hide = { schema: { hide: true } }
  const send = (type: string, body: string) => async (_request: unknown, reply: FastifyReply) =>
    reply.type(type).header('content-security-policy', csp).header('cache-control', 'no-store').send(body)
  app.get('/', hide, async (_request, reply) => reply.redirect('/dashboard'))
  app.get('/dashboard', hide, send('text/html; charset=utf-8', dashboardHtml(opts.mapTilesUrl)))
  // any well-formed id gets the page; the page says when the api does not know the car
  app.get('/dashboard/cars/:vehicleId', { schema: { hide: true, params: VehicleParamsSchema } }, send('text/html; charset=utf-8', CAR_HTML))
  app.get('/dashboard/common.js', hide, send('text/javascript; charset=utf-8', COMMON_JS))
  app.get('/dashboard/map.js', hide, send('text/javascript; charset=utf-8', MAP_JS))
  app.get('/dashboard/app.js', hide, send('text/javascript; charset=utf-8', DASHBOARD_JS))
  app.get('/dashboard/car.js', hide, send('text/javascript; charset=utf-8', CAR_JS))
  app.get('/dashboard/app.css', hide, send('text/css; charset=utf-8', DASHBOARD_CSS + CAR_CSS))
  app.get('/dashboard/favicon.svg', hide, send('image/svg+xml', FAVICON_SVG))
  // browsers ask for /favicon.ico on their own (a page without <link rel=icon>, a direct visit)
  app.get('/favicon.ico', hide, async (_request, reply) => reply.redirect('/dashboard/favicon.svg'))
}
