// Schemas shared by the api's routes: the problem body, path parameters, paging.
import { Type, type Static } from '@sinclair/typebox'

export const ProblemSchema = Type.Object({
  type: Type.String({ description: 'urn:fleet:problem:<code>' }),
  title: Type.String(),
  status: Type.Integer(),
  code: Type.String({ description: 'machine-readable reason, e.g. invalid_request, unauthorized, forbidden, not_found' }),
  detail: Type.String(),
  instance: Type.String({ description: 'the request path' }),
  requestId: Type.String(),
  errors: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() })))
}, { title: 'Problem (application/problem+json)' })
export type Problem = Static<typeof ProblemSchema>

/** Response schemas of the given error statuses (the standard ones of every /v1 route included). */
export const problems = (...codes: number[]) => Object.fromEntries([...new Set([400, 401, 403, 429, ...codes])].map(c => [c, ProblemSchema]))

export const VehicleIdSchema = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$', description: 'vehicle id' })
export const VehicleParamsSchema = Type.Object({ vehicleId: VehicleIdSchema })
