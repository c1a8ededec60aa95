// Commands to a car: send (operators; Idempotency-Key honoured), read one (optionally waiting for
// its final status: long-poll or server-sent events), list a car's commands.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { CommandCreateSchema, FINAL_STATUSES, type CommandRecord } from '../../../shared/src/command-schema.js'
import type { ApiContext } from '../context.js'
import { ApiProblem, notFound } from '../problem.js'
import { CommandListSchema, CommandParamsSchema, CommandRecord as CommandRecordSchema, CreateHeadersSchema, ListQuerySchema, WaitQuerySchema } from '../schemas/commands.js'
import { problems, VehicleParamsSchema } from '../schemas/common.js'

const isFinal = (r: CommandRecord) => FINAL_STATUSES.has(r.status)

export const commandRoutes: FastifyPluginAsyncTypebox<{ ctx: ApiContext }> = async (app, { ctx }) => {
  const { config, store, issuer, reader, updates, streams } = ctx

  async function commandOf (vehicleId: string, commandId: string): Promise<CommandRecord> {
    const r = await store.get(commandId)
    if (r === null || r.vehicleId !== vehicleId) throw notFound(`no command ${commandId} for vehicle ${vehicleId}`)
    return r
  }

  app.post('/vehicles/:vehicleId/commands', {
    config: { role: 'operator', rateLimit: { max: config.commandRateLimitPerMin, timeWindow: 60_000 } },
    schema: {
      tags: ['commands'],
      summary: 'Send a command to a car',
      description: 'Stores the command (pending) and queues it for the car: 201 once Kafka holds it; 202 when Kafka has not answered within FLEET_API_COMMAND_QUEUE_TIMEOUT_MS (the record is pending and becomes failed if Kafka then refuses it); 503 when Kafka refused it (recorded as failed). It is delivered when the car is connected, or when it reconnects with its persistent session, unless ttlSeconds pass first (then it expires and is never delivered). Follow it with GET …/commands/{commandId}?waitSeconds= or …/events. Needs the operator role.',
      params: VehicleParamsSchema,
      headers: CreateHeadersSchema,
      body: CommandCreateSchema,
      response: { 201: CommandRecordSchema, 202: CommandRecordSchema, 200: CommandRecordSchema, ...problems(404, 409, 413, 415, 422, 503) }
    }
  }, async (request, reply) => {
    const { vehicleId } = request.params
    if (!await reader.exists(vehicleId)) throw notFound(`vehicle ${vehicleId} is not known (never provisioned, connected or scored)`)
    if (await reader.isRevoked(vehicleId)) throw new ApiProblem(409, 'vehicle_revoked', `vehicle ${vehicleId} is revoked; it cannot receive commands`)
    const { ttlSeconds, ...command } = request.body
    const principal = request.principal!
    const key = request.headers['idempotency-key']
    const result = await issuer.issue({
      vehicleId,
      request: command,
      ttlS: ttlSeconds ?? config.commandTtlS,
      requestedBy: principal.name,
      ...(key === undefined ? {} : { idempotency: { scope: principal.name, key } })
    })
    const location = (id: string) => `/v1/vehicles/${vehicleId}/commands/${id}`
    switch (result.kind) {
      case 'created':
        request.log.info({ vehicleId, commandId: result.record.commandId, type: result.record.type, by: principal.name }, 'command queued')
        return reply.code(201).header('location', location(result.record.commandId)).send(result.record)
      case 'replayed':
        return reply.code(200).header('location', location(result.record.commandId)).header('idempotent-replayed', 'true').send(result.record)
      case 'key_reused':
        throw new ApiProblem(422, 'idempotency_key_reused', `Idempotency-Key was used for a different request (command ${result.commandId}); use a new key`)
      case 'accepted':
        // Kafka is slow: the caller gets a bounded answer; the record says what happens next.
        request.log.warn({ vehicleId, commandId: result.record.commandId, waitedMs: config.commandQueueTimeoutMs }, 'command accepted while Kafka has not yet acknowledged it')
        return reply.code(202).header('location', location(result.record.commandId)).send(result.record)
      case 'unavailable':
        request.log.error({ vehicleId, commandId: result.record.commandId, err: result.detail }, 'command not queued')
        throw new ApiProblem(503, 'not_queued', 'the command could not be queued (Kafka unavailable); it is recorded as failed; retry', { commandId: result.record.commandId })
    }
  })

  app.get('/vehicles/:vehicleId/commands', {
    schema: {
      tags: ['commands'],
      summary: 'A car\'s commands, newest first',
      params: VehicleParamsSchema,
      querystring: ListQuerySchema,
      response: { 200: CommandListSchema, ...problems(404) }
    }
  }, async (request) => {
    const { vehicleId } = request.params
    const page = await store.listForVehicle(vehicleId, { limit: request.query.limit, ...(request.query.before === undefined ? {} : { before: request.query.before }) })
    if (page.items.length === 0 && request.query.before === undefined && !await reader.exists(vehicleId)) throw notFound(`vehicle ${vehicleId} is not known`)
    return { items: page.items, nextBefore: page.next }
  })

  app.get('/vehicles/:vehicleId/commands/:commandId', {
    schema: {
      tags: ['commands'],
      summary: 'One command and its history',
      description: `With waitSeconds (at most ${config.maxWaitS}), answers as soon as the command is final (acknowledged, rejected, failed, expired) or when the time is up, whichever is first.`,
      params: CommandParamsSchema,
      querystring: WaitQuerySchema,
      response: { 200: CommandRecordSchema, ...problems(404) }
    }
  }, async (request, reply) => {
    const { vehicleId, commandId } = request.params
    const waitS = Math.min(request.query.waitSeconds ?? 0, config.maxWaitS)
    if (waitS === 0) return commandOf(vehicleId, commandId)
    // Listen first, then read: no update between the two is missed.
    let wake!: () => void
    const woken = new Promise<void>(resolve => { wake = resolve })
    const off = updates.onUpdate(u => { if (u.commandId === commandId && FINAL_STATUSES.has(u.status)) wake() })
    const timer = setTimeout(wake, waitS * 1000)
    const gone = () => wake()
    // the response's close: the client went away (or we answered)
    reply.raw.once('close', gone)
    try {
      const first = await commandOf(vehicleId, commandId)
      if (isFinal(first)) return first
      await woken
      return await commandOf(vehicleId, commandId)
    } finally {
      off()
      clearTimeout(timer)
      reply.raw.off('close', gone)
    }
  })

  app.get('/vehicles/:vehicleId/commands/:commandId/events', {
    schema: {
      tags: ['commands'],
      summary: 'Follow a command (server-sent events)',
      description: 'text/event-stream: an `command` event with the record now and after every change; the stream ends after the final status.',
      params: CommandParamsSchema,
      response: { 200: Type.String({ description: 'text/event-stream' }), ...problems(404, 503) }
    }
  }, async (request, reply) => {
    const { vehicleId, commandId } = request.params
    await commandOf(vehicleId, commandId)
    const stream = streams.start(request, reply)
    let sending = Promise.resolve()
    const push = () => {
      sending = sending.then(async () => {
        const r = await store.get(commandId)
        if (r === null) return stream.close()
        stream.send('command', r)
        if (isFinal(r)) stream.close()
      }).catch(() => stream.close())
    }
    const off = updates.onUpdate(u => { if (u.commandId === commandId) push() })
    push()
    await stream.closed
    off()
  })
}
