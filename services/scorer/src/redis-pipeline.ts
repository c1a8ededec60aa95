// A connection of its own to the Redis the scorer's ioredis client is connected to, for the batch
// writes only: a batch's commands go as one write of bytes encoded elsewhere (redis-batch.ts) and
// only the number of replies and the first error are read back. Neither ioredis (a Command, a
// promise and a parsed reply per command: ~8 µs of the scorer's CPU each) nor a Lua script (one
// EVALSHA per 8,192 arguments: Redis spent ~13 µs per row converting arguments and calls, more
// than the writes themselves) pays per command here. Every write command the batch sends answers
// with one line (`:n`, `+OK` or `-ERR …`), so counting line ends is reading the replies; a reply of
// any other kind is a protocol error and closes the connection.
//
// Where to connect follows the ioredis client (the master Sentinel named, after a failover too):
// its socket's peer, with the user, password, database and TLS options it was given. Any error,
// error reply or timeout closes the connection and fails the sends in flight (the scorer retries the
// batch); the next send connects again, to wherever the ioredis client is connected by then.
import { connect as netConnect, type Socket } from 'node:net'
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls'
import type { Redis } from 'ioredis'
import { RespWriter } from './resp-writer.js'

export interface PipelineTarget {
  host: string
  port: number
  username?: string
  password?: string
  db?: number
  tls?: ConnectionOptions
}

/** Where the ioredis client is connected now and with what credentials; null while it is not. */
export function targetOf (redis: Redis): PipelineTarget | null {
  if (redis.status !== 'ready') return null
  const o = redis.options
  const s = (redis as unknown as { stream?: Socket }).stream
  const host = s?.remoteAddress ?? o.host
  const port = s?.remotePort ?? o.port
  if (host === undefined || port === undefined) return null
  return {
    host,
    port,
    // ioredis keeps null where a URL had no user, password or database
    ...((o.username ?? '') === '' ? {} : { username: o.username! }),
    ...((o.password ?? '') === '' ? {} : { password: o.password! }),
    ...((o.db ?? 0) === 0 ? {} : { db: o.db! }),
    ...(o.tls == null ? {} : { tls: o.tls })
  }
}

export interface RedisPipelineOptions {
  /** A send not answered in full within this long closes the connection and fails. */
  timeoutMs?: number
  connectTimeoutMs?: number
}

interface Pending {
  replies: number
  error: string | null
  resolve: () => void
  reject: (err: Error) => void
  timer: NodeJS.Timeout
}

const LF = 10
const CR = 13
/** Error replies are kept up to this many bytes (a hostile or broken peer cannot grow it). */
const MAX_ERROR_BYTES = 512

export class RedisPipeline {
  private socket: Socket | null = null
  private readonly pending: Pending[] = []
  /** Inside a reply line: its first byte was seen; `errorBytes` collects an error line's text. */
  private inLine = false
  private errorBytes: number[] | null = null
  private readonly timeoutMs: number
  private readonly connectTimeoutMs: number

  constructor (private readonly target: () => PipelineTarget | null, opts: RedisPipelineOptions = {}) {
    this.timeoutMs = opts.timeoutMs ?? 10_000
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 3_000
  }

  /** Sends `bytes` (RESP commands) and resolves once all `replies` came; rejects with the first error reply. */
  send (bytes: Uint8Array, replies: number): Promise<void> {
    if (replies <= 0) return Promise.resolve()
    let socket = this.socket
    let handshake = 0
    if (socket === null) {
      const t = this.target()
      if (t === null) return Promise.reject(new Error('redis: not connected'))
      const hello = new RespWriter(256)
      if (t.password !== undefined) {
        command(hello, t.username === undefined ? ['AUTH', t.password] : ['AUTH', t.username, t.password])
        handshake++
      }
      if (t.db !== undefined) {
        command(hello, ['SELECT', t.db])
        handshake++
      }
      socket = this.open(t)
      if (handshake > 0) socket.write(Buffer.from(hello.view()))
    }
    const s = socket
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => this.fail(s, new Error(`redis: no reply to the batch's writes within ${this.timeoutMs} ms`)), this.timeoutMs)
      this.pending.push({ replies: replies + handshake, error: null, resolve, reject, timer })
      s.write(bytes)
    })
  }

  /** Closes the connection; sends in flight fail. */
  close (): void {
    if (this.socket !== null) this.fail(this.socket, new Error('redis: the batch connection was closed'))
  }

  private open (t: PipelineTarget): Socket {
    const socket = t.tls === undefined
      ? netConnect({ host: t.host, port: t.port })
      : tlsConnect({ ...t.tls, host: t.host, port: t.port })
    socket.setNoDelay(true)
    socket.setTimeout(this.connectTimeoutMs, () => this.fail(socket, new Error(`redis: could not connect to ${t.host}:${t.port} within ${this.connectTimeoutMs} ms`)))
    socket.once(t.tls === undefined ? 'connect' : 'secureConnect', () => socket.setTimeout(0))
    socket.on('data', (chunk: Buffer) => this.read(socket, chunk))
    socket.on('error', err => this.fail(socket, new Error(`redis: ${err.message}`)))
    socket.on('close', () => this.fail(socket, new Error('redis: the batch connection closed')))
    this.socket = socket
    this.inLine = false
    this.errorBytes = null
    return socket
  }

  private read (socket: Socket, chunk: Buffer): void {
    if (socket !== this.socket) return
    let at = 0
    while (at < chunk.length) {
      if (!this.inLine) {
        const kind = chunk[at]!
        if (kind === 0x2d) this.errorBytes = [] // '-'
        else if (kind !== 0x3a && kind !== 0x2b) { // ':' or '+'
          this.fail(socket, new Error(`redis: unexpected reply type ${JSON.stringify(String.fromCharCode(kind))} on the batch connection`))
          return
        }
        this.inLine = true
      }
      const end = chunk.indexOf(LF, at)
      const stop = end === -1 ? chunk.length : end
      if (this.errorBytes !== null) {
        for (let i = at; i < stop && this.errorBytes.length < MAX_ERROR_BYTES; i++) if (chunk[i] !== CR) this.errorBytes.push(chunk[i]!)
      }
      if (end === -1) return
      at = end + 1
      this.inLine = false
      const head = this.pending[0]
      if (head === undefined) {
        this.fail(socket, new Error('redis: a reply nobody waited for on the batch connection'))
        return
      }
      if (this.errorBytes !== null) {
        head.error ??= Buffer.from(this.errorBytes).toString('latin1').slice(1)
        this.errorBytes = null
      }
      if (--head.replies === 0) {
        this.pending.shift()
        clearTimeout(head.timer)
        if (head.error === null) head.resolve()
        else {
          head.reject(new Error(head.error))
          // After an error reply (a failed-over master's READONLY, NOAUTH, WRONGTYPE) the next
          // batch starts on a new connection to wherever the ioredis client points by then.
          this.fail(socket, new Error(`redis: the batch connection was closed after the error ${head.error}`))
          return
        }
      }
    }
  }

  private fail (socket: Socket, err: Error): void {
    if (socket !== this.socket) return
    this.socket = null
    socket.destroy()
    for (const p of this.pending.splice(0)) {
      clearTimeout(p.timer)
      p.reject(err)
    }
  }
}

/** Appends one command (an array of bulk strings) to `w`. */
export function command (w: RespWriter, args: ReadonlyArray<string | number | Uint8Array>): void {
  w.array(args.length)
  for (const a of args) w.arg(a)
}
