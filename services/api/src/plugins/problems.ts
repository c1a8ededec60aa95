// The api's one translation of errors to HTTP: every error, ours (ApiProblem) or fastify's
// (validation, body too large, bad JSON, wrong media type, rate limit), becomes an
// application/problem+json body with a code, a message and the request id. 5xx details are
// logged, never sent.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { STATUS_CODES } from 'node:http'
import { COMMAND_TYPES } from '../../../shared/src/command-schema.js'
import { ApiProblem } from '../problem.js'
import type { Problem } from '../schemas/common.js'

const codeOf: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'body_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_request',
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'invalid_request',
  FST_ERR_VALIDATION: 'invalid_request'
}

export function sendProblem (request: FastifyRequest, reply: FastifyReply, status: number, code: string, detail: string, extra: Record<string, unknown> = {}) {
  const body: Problem = {
    type: `urn:fleet:problem:${code}`,
    title: STATUS_CODES[status] ?? 'Error',
    status,
    code,
    detail,
    instance: request.url.split('?')[0] ?? request.url,
    requestId: String(request.id),
    ...extra
  }
  return reply.code(status).type('application/problem+json').send(body)
}

export function installProblems (app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | ApiProblem, request, reply) => {
    if (err instanceof ApiProblem) {
      if (err.statusCode === 401) reply.header('www-authenticate', 'Basic realm="fleet", charset="UTF-8"')
      return sendProblem(request, reply, err.statusCode, err.code, err.message, err.extra)
    }
    const e = err as FastifyError
    if (e.validation !== undefined) {
      const errors = e.validation.map(v => {
        const path = `${e.validationContext ?? ''}${v.instancePath}` || (e.validationContext ?? '(root)')
        // ajv's discriminator message ("value of tag "type" must be in oneOf") names no choice.
        if (v.keyword === 'discriminator' && (v.params as { tag?: string }).tag === 'type') return { path: `${path}/type`, message: `must be one of ${COMMAND_TYPES.join(', ')}` }
        return { path, message: v.message ?? 'invalid' }
      })
      const detail = errors.length === 1 ? `${errors[0]!.path} ${errors[0]!.message}` : e.message
      return sendProblem(request, reply, 400, 'invalid_request', detail, { errors })
    }
    const status = e.statusCode ?? 500
    if (status >= 400 && status < 500) {
      const code = status === 429 ? 'rate_limited' : (e.code !== undefined ? codeOf[e.code] : undefined) ?? (STATUS_CODES[status] ?? 'error').toLowerCase().replace(/[^a-z]+/g, '_')
      const detail = e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
        ? `content-type ${String(request.headers['content-type'] ?? '(none)').slice(0, 100)} is not accepted; send application/json`
        : e.message
      return sendProblem(request, reply, status, code, detail)
    }
    // Redis or Kafka unreachable: the caller may retry; it is not our bug.
    if (/^(KafkaJS|MaxRetriesPerRequest)/.test(e.name ?? '') || /Connection is closed|Stream isn't writeable|ECONNREFUSED/.test(e.message ?? '')) {
      request.log.warn({ err: e.message }, 'dependency unavailable')
      reply.header('retry-after', '5')
      return sendProblem(request, reply, 503, 'unavailable', 'a backing service (Redis or Kafka) is unreachable; retry shortly')
    }
    request.log.error({ err }, 'request failed')
    return sendProblem(request, reply, status >= 500 ? status : 500, 'internal', 'the request failed on our side; quote the requestId when reporting it')
  })
  app.setNotFoundHandler((request, reply) => sendProblem(request, reply, 404, 'not_found', `no route ${request.method} ${request.url.split('?')[0] ?? ''}`))
}
