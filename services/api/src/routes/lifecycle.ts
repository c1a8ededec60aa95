// A car's lifecycle for operators: provision (one or in bulk; each password is in this answer only,
// Redis keeps a verifier), rotate (the old credentials end after an overlap), revoke one credential
// or the whole car, decommission. Every change is an event on vehicle.lifecycle naming who did it.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { CredentialLimitError } from '../../../shared/src/credential-store.js'
import type { VehicleLifecycle } from '../../../shared/src/vehicle-lifecycle.js'
import { ApiProblem, notFound } from '../problem.js'
import { problems, VehicleIdSchema, VehicleParamsSchema } from '../schemas/common.js'

const MAX_BULK = 1_000
const Issued = Type.Object({
  credentialId: Type.String(),
  password: Type.String({ description: 'the MQTT password (user name = vehicle id); shown once, never stored' }),
  notAfter: Type.Union([Type.String(), Type.Null()])
})
const ProvisionBody = Type.Object({ vehicleIds: Type.Array(VehicleIdSchema, { minItems: 1, maxItems: MAX_BULK, uniqueItems: true }) }, { additionalProperties: false })
const RotateBody = Type.Object({ overlapSeconds: Type.Integer({ minimum: 0, maximum: 30 * 24 * 3600, default: 86_400, description: 'how long the car\'s other credentials keep working' }) }, { additionalProperties: false })
const CredentialParams = Type.Object({ vehicleId: VehicleIdSchema, credentialId: Type.String({ pattern: '^[A-Za-z0-9_-]{16}$' }) })
const CredentialList = Type.Object({
  provisionedAt: Type.Union([Type.String(), Type.Null()]),
  revokedAt: Type.Union([Type.String(), Type.Null()]),
  credentials: Type.Array(Type.Object({ credentialId: Type.String(), notAfter: Type.Union([Type.String(), Type.Null()]), createdAt: Type.String(), expired: Type.Boolean() }))
})

export const lifecycleRoutes: FastifyPluginAsyncTypebox<{ lifecycle: VehicleLifecycle }> = async (app, { lifecycle }) => {
  const operator = { role: 'operator' as const }
  const by = (request: { principal?: { name: string } }) => request.principal!.name

  app.post('/vehicles/provision', {
    config: operator,
    schema: {
      tags: ['vehicles'],
      summary: 'Provision cars (one or up to 1,000): a new credential each, its password shown once',
      body: ProvisionBody,
      response: { 201: Type.Object({ items: Type.Array(Type.Intersect([Type.Object({ vehicleId: Type.String() }), Issued])) }), ...problems(409) }
    }
  }, async (request, reply) => {
    try {
      const items = await lifecycle.provision(request.body.vehicleIds, by(request))
      request.log.info({ count: items.length, by: by(request) }, 'vehicles provisioned')
      return reply.code(201).header('cache-control', 'no-store').send({ items })
    } catch (err) {
      if (err instanceof CredentialLimitError) throw new ApiProblem(409, 'too_many_credentials', err.message)
      throw err
    }
  })

  app.get('/vehicles/:vehicleId/credentials', {
    config: operator,
    schema: { tags: ['vehicles'], summary: 'A car\'s credentials (ids and validity, never secrets)', params: VehicleParamsSchema, response: { 200: CredentialList, ...problems(404) } }
  }, async (request) => {
    const info = await lifecycle.credentials(request.params.vehicleId)
    if (info === null) throw notFound(`vehicle ${request.params.vehicleId} is not provisioned`)
    return info
  })

  app.post('/vehicles/:vehicleId/credentials/rotate', {
    config: operator,
    schema: { tags: ['vehicles'], summary: 'Rotate: a new credential; the others end after overlapSeconds', params: VehicleParamsSchema, body: RotateBody, response: { 201: Issued, ...problems(404) } }
  }, async (request, reply) => {
    if (await lifecycle.credentials(request.params.vehicleId) === null) throw notFound(`vehicle ${request.params.vehicleId} is not provisioned`)
    const c = await lifecycle.rotate(request.params.vehicleId, request.body.overlapSeconds, by(request))
    return reply.code(201).header('cache-control', 'no-store').send(c)
  })

  app.delete('/vehicles/:vehicleId/credentials/:credentialId', {
    config: operator,
    schema: { tags: ['vehicles'], summary: 'Revoke one credential (the car is dropped and may reconnect with another)', params: CredentialParams, response: { 204: Type.Null(), ...problems(404) } }
  }, async (request, reply) => {
    const { vehicleId, credentialId } = request.params
    if (!await lifecycle.revokeCredential({ kind: 'vehicle', id: vehicleId }, credentialId, by(request))) throw notFound(`vehicle ${vehicleId} has no credential ${credentialId}`)
    return reply.code(204).send(null)
  })

  app.post('/vehicles/:vehicleId/revoke', {
    config: operator,
    schema: { tags: ['vehicles'], summary: 'Revoke the car: all its credentials and certificates so far, dropped now', params: VehicleParamsSchema, response: { 204: Type.Null(), ...problems(404) } }
  }, async (request, reply) => {
    if (await lifecycle.credentials(request.params.vehicleId) === null) throw notFound(`vehicle ${request.params.vehicleId} is not provisioned`)
    await lifecycle.revoke({ kind: 'vehicle', id: request.params.vehicleId }, by(request))
    return reply.code(204).send(null)
  })

  app.delete('/vehicles/:vehicleId', {
    config: operator,
    schema: { tags: ['vehicles'], summary: 'Decommission: revoke the car and remove its credentials, session, queued commands, state and rankings', params: VehicleParamsSchema, response: { 204: Type.Null(), ...problems() } }
  }, async (request, reply) => {
    await lifecycle.decommission(request.params.vehicleId, by(request))
    return reply.code(204).send(null)
  })
}
