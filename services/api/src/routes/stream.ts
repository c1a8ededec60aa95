// The dashboard's live feed (server-sent events): `summary` after every fleet sample, `anomaly`
// for each anomaly, `command` when any command's status changes.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { ApiContext } from '../context.js'
import { problems } from '../schemas/common.js'

export const streamRoutes: FastifyPluginAsyncTypebox<{ ctx: ApiContext }> = async (app, { ctx }) => {
  app.get('/stream', {
    schema: {
      tags: ['fleet'],
      summary: 'Live events (server-sent events): summary, anomaly, command',
      response: { 200: Type.String({ description: 'text/event-stream' }), ...problems(503) }
    }
  }, async (request, reply) => {
    const stream = ctx.streams.start(request, reply)
    const latest = ctx.sampler.latest()
    if (latest !== null) stream.send('summary', latest)
    const offs = [
      ctx.sampler.onSample(s => stream.send('summary', s)),
      ctx.feed.onAnomaly(a => stream.send('anomaly', a)),
      ctx.updates.onUpdate(u => stream.send('command', u))
    ]
    await stream.closed
    for (const off of offs) off()
  })
}
