// Errors as values: what went wrong, with a code and a human message. The api's error handler
// (plugins/problems.ts) turns them, and every other error, into application/problem+json (RFC 9457).
export class ApiProblem extends Error {
  constructor (
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {}
  ) {
    super(message)
  }
}

export const notFound = (what: string) => new ApiProblem(404, 'not_found', what)
export const badRequest = (detail: string) => new ApiProblem(400, 'invalid_request', detail)
