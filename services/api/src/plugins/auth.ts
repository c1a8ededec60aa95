// Operator authentication and roles, as an onRequest hook that route groups add to themselves
// (health and metrics have none). Credentials: `Authorization: Bearer <API key or JWT>`,
// `X-API-Key: <API key>`, or `Authorization: Basic` with the API key as password (what a browser
// sends for the dashboard and /docs after its login prompt). Roles: read-only may read
// everything; operator may also send commands (routes say `config: { role: 'operator' }`).
// Unsafe methods from another origin (or from an opaque one, `Origin: null`) are refused, so a
// browser's cached Basic credentials cannot be used by another site. Failed logins are limited
// per client address (auth-limiter.ts): past the budget, 429 with Retry-After.
import { timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyRequest, onRequestHookHandler } from 'fastify'
import { keyDigest, ROLES, type ApiKey, type Role } from '../api-config.js'
import { ApiProblem } from '../problem.js'
import type { AuthLimiter } from './auth-limiter.js'

export interface Principal { name: string, role: Role, via: 'api-key' | 'jwt' }

declare module 'fastify' {
  interface FastifyRequest { principal?: Principal }
  interface FastifyContextConfig { role?: Role }
}

const RANK: Record<Role, number> = { 'read-only': 0, operator: 1 }
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/

interface JwtClaims { sub?: unknown, role?: unknown }

export interface AuthOptions {
  keys: ApiKey[]
  /** Verifies a JWT (signature, exp, iss, aud, age) and returns its claims; absent when JWTs are off. */
  verifyJwt?: (token: string) => JwtClaims
  limiter: AuthLimiter
  /** Called for every refused login (401), with the reason, and when an address is blocked. */
  onFailure?: (reason: 'missing' | 'invalid_key' | 'invalid_jwt' | 'limited') => void
}

function presented (request: FastifyRequest): { kind: 'bearer' | 'key', value: string } | null {
  const auth = request.headers.authorization
  if (typeof auth === 'string') {
    const [scheme, ...rest] = auth.trim().split(/\s+/)
    const value = rest.join(' ')
    if (/^bearer$/i.test(scheme ?? '') && value !== '') return { kind: 'bearer', value }
    if (/^basic$/i.test(scheme ?? '') && value !== '') {
      const decoded = Buffer.from(value, 'base64').toString('utf8')
      const colon = decoded.indexOf(':')
      return { kind: 'key', value: colon < 0 ? decoded : decoded.slice(colon + 1) }
    }
    return { kind: 'key', value: '' }
  }
  const key = request.headers['x-api-key']
  if (typeof key === 'string') return { kind: 'key', value: key }
  return null
}

export function createAuthenticator (opts: AuthOptions) {
  const byKey = (key: string): Principal | null => {
    const d = keyDigest(key)
    let found: ApiKey | null = null
    for (const k of opts.keys) if (timingSafeEqual(k.digest, d)) found = k
    return found === null ? null : { name: found.name, role: found.role, via: 'api-key' }
  }

  function identify (request: FastifyRequest): Principal {
    const cred = presented(request)
    if (cred === null) throw new ApiProblem(401, 'unauthorized', 'credentials required: Authorization: Bearer <API key or JWT>, X-API-Key: <API key>, or Basic with the API key as password')
    if (cred.kind === 'bearer' && JWT_SHAPE.test(cred.value) && opts.verifyJwt !== undefined) {
      let claims: JwtClaims
      try {
        claims = opts.verifyJwt(cred.value)
      } catch {
        opts.onFailure?.('invalid_jwt')
        throw new ApiProblem(401, 'invalid_credentials', 'the token is not valid (signature, expiry, issuer or audience)')
      }
      if (typeof claims.sub !== 'string' || claims.sub === '' || !(ROLES as readonly unknown[]).includes(claims.role)) {
        throw new ApiProblem(403, 'forbidden', `the token needs a sub and a role claim (${ROLES.join(' or ')})`)
      }
      return { name: `jwt:${claims.sub.slice(0, 64)}`, role: claims.role as Role, via: 'jwt' }
    }
    const p = cred.value === '' ? null : byKey(cred.value)
    if (p === null) {
      opts.onFailure?.('invalid_key')
      throw new ApiProblem(401, 'invalid_credentials', 'the API key is not valid')
    }
    return p
  }

  const hook: onRequestHookHandler = async (request, reply) => {
    const blocked = opts.limiter.blockedFor(request.ip)
    if (blocked > 0) {
      opts.onFailure?.('limited')
      reply.header('retry-after', String(blocked))
      throw new ApiProblem(429, 'rate_limited', `too many failed logins from this address; retry in ${blocked} s`)
    }
    let principal: Principal
    try {
      principal = identify(request)
    } catch (err) {
      if (err instanceof ApiProblem && err.statusCode === 401) {
        if (err.code === 'unauthorized') opts.onFailure?.('missing')
        // No credentials at all is a browser before its login prompt, not a guess: not counted.
        else opts.limiter.failed(request.ip)
      }
      throw err
    }
    request.principal = principal
    const origin = request.headers.origin
    if (!['GET', 'HEAD', 'OPTIONS'].includes(request.method) && typeof origin === 'string') {
      // `Origin: null` (sandboxed frames, file: pages, some redirects) parses to no host: refused.
      let host = ''
      try { host = new URL(origin).host } catch {}
      if (host !== request.headers.host) throw new ApiProblem(403, 'cross_origin', 'requests that change things must come from the api\'s own origin')
    }
    const needed = request.routeOptions.config.role ?? 'read-only'
    if (RANK[principal.role] < RANK[needed]) throw new ApiProblem(403, 'forbidden', `${principal.name} has role ${principal.role}; this needs ${needed}`)
  }
  return { hook, identify }
}

/** Adds the authentication hook to every route of `scope` (an encapsulated plugin). */
export function requireAuth (scope: FastifyInstance, hook: onRequestHookHandler): void {
  scope.addHook('onRequest', hook)
}
