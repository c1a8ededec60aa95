// Server-sent events over a hijacked reply: headers (with the request id), `event:`/`data:` frames,
// a comment every 15 s so proxies keep the stream open, a per-process cap on open streams, and a
// bound on what one stream may hold: a reader that does not read is dropped once `maxBufferBytes`
// wait in the socket's buffer (the kernel's buffers are full by then), not held forever.
import type { FastifyReply, FastifyRequest } from 'fastify'
import { ApiProblem } from './problem.js'

export interface EventStream {
  send: (event: string, data: unknown) => void
  close: () => void
  /** Resolves when the client goes away or close() was called. */
  closed: Promise<void>
}

export function createStreamLimiter (max: number, opts: { maxBufferBytes: number, onDropped?: () => void }) {
  let open = 0
  return {
    open: () => open,
    start (request: FastifyRequest, reply: FastifyReply): EventStream {
      if (open >= max) throw new ApiProblem(503, 'too_many_streams', `this api process already serves ${max} event streams; retry later`)
      open++
      reply.hijack()
      const res = reply.raw
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
        'x-request-id': String(request.id)
      })
      res.write('retry: 2000\n\n')
      let done = false
      let resolveClosed!: () => void
      const closed = new Promise<void>(resolve => { resolveClosed = resolve })
      const write = (chunk: string) => {
        if (done) return
        if (res.writableLength > opts.maxBufferBytes) {
          opts.onDropped?.()
          request.log.warn({ buffered: res.writableLength }, 'event stream reader does not read: stream closed')
          res.destroy()
          finish()
          return
        }
        res.write(chunk)
      }
      const heartbeat = setInterval(() => write(': keep-alive\n\n'), 15_000)
      const finish = () => {
        if (done) return
        done = true
        open--
        clearInterval(heartbeat)
        resolveClosed()
      }
      request.raw.once('close', finish)
      res.once('close', finish)
      return {
        send (event, data) {
          write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
        },
        close () {
          if (!done) res.end()
          finish()
        },
        closed
      }
    }
  }
}

export type StreamLimiter = ReturnType<typeof createStreamLimiter>
