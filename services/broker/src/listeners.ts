// The broker's network listeners: MQTT over TCP, over WebSocket, and (when a certificate is
// configured) over TLS and secure WebSocket. Every listener accepts on a plain TCP server that asks
// admitSocket first, so a socket over the limits is closed before a byte is read — before a TLS
// handshake or an HTTP upgrade costs anything; the admitted ones are handed to the TLS or HTTP
// server (emitting its 'connection', as Node documents for injecting sockets). Each accepted stream
// is handed on with what the listener knows about it: which listener, and the TLS socket for
// certificate identity.
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { createServer as createTlsServer, type SecureContextOptions, type TLSSocket } from 'node:tls'
import { WebSocketServer, createWebSocketStream } from 'ws'

export type ListenerKind = 'tcp' | 'ws' | 'tls' | 'wss'

export interface StreamInfo { listener: ListenerKind, tls: TLSSocket | null, remoteAddress: string | undefined }

export interface TlsListenOptions {
  port: number
  wssPort: number
  context: SecureContextOptions
  requestCert: boolean
  rejectUnauthorized: boolean
  /** A handshake not finished by then ends its socket. */
  handshakeTimeoutMs: number
}

export interface Listeners {
  mqttPort: number | null
  wsPort: number | null
  tlsPort: number | null
  wssPort: number | null
  /** Replaces certificate, key and CA for new TLS connections; connected cars stay. */
  setSecureContext: (context: SecureContextOptions) => void
  /** Stops accepting new connections; existing ones stay. */
  close: () => Promise<void>
}

export interface ListenOptions {
  host: string
  mqttPort: number
  wsPort: number
  tls: TlsListenOptions | null
  /** At accept, before a byte is read: whether the socket may stay (false: it was closed). */
  admitSocket: (socket: Socket) => boolean
  onStream: (stream: Duplex, info: StreamInfo, req?: IncomingMessage) => void
  onTlsError?: (err: Error) => void
  /** Largest WebSocket message read: the MQTT packet limit (FLEET_MAX_PACKET_BYTES). */
  maxFrameBytes: number
  /** A WebSocket message over maxFrameBytes closed its connection. */
  onFrameTooLarge?: () => void
}

const listen = (server: NetServer | HttpServer, port: number, host: string) => new Promise<number>((resolve, reject) => {
  server.once('error', reject)
  server.listen(port, host, () => {
    server.off('error', reject)
    resolve((server.address() as AddressInfo).port)
  })
})

/** A plain TCP server in front of `server`: admitted sockets become its connections. */
const front = (server: NetServer | HttpServer, admit: (socket: Socket) => boolean) =>
  createNetServer({ noDelay: true }, socket => { if (admit(socket)) server.emit('connection', socket) })

// close() stops accepting at once; its callback would wait for every open connection to end,
// which is the broker's job (aedes.close), so it is not awaited.
const stopAccepting = (server: NetServer | HttpServer) => { server.close() }

// ws buffers a whole message before handing it on, up to `maxPayload` (library default 100 MiB),
// before any CONNECT: a larger one is refused at its header (close 1009), so a socket that never
// authenticated holds at most one packet's worth, as on TCP (packet-guard.ts).
function attachWebSocket (server: HttpServer, listener: ListenerKind, opts: ListenOptions): WebSocketServer {
  const { onStream, onFrameTooLarge } = opts
  const wss = new WebSocketServer({ server, maxPayload: opts.maxFrameBytes, handleProtocols: protocols => protocols.has('mqtt') ? 'mqtt' : false })
  const tooLarge = (err: Error & { code?: string }) => { if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') onFrameTooLarge?.() }
  wss.on('connection', (ws, req) => {
    ws.on('error', tooLarge)
    onStream(createWebSocketStream(ws), { listener, tls: listener === 'wss' ? req.socket as TLSSocket : null, remoteAddress: req.socket.remoteAddress }, req)
  })
  return wss
}

const upgradeOnly = (_req: IncomingMessage, res: import('node:http').ServerResponse) => {
  res.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over WebSocket only\n')
}

export async function startListeners (opts: ListenOptions): Promise<Listeners> {
  const servers: Array<NetServer | HttpServer> = []
  const sockets: WebSocketServer[] = []
  let mqttPort: number | null = null
  // -1 = off, like the WebSocket port: a TLS-only broker has no plaintext listener at all.
  if (opts.mqttPort >= 0) {
    const tcp = createNetServer({ noDelay: true }, socket => {
      if (opts.admitSocket(socket)) opts.onStream(socket, { listener: 'tcp', tls: null, remoteAddress: socket.remoteAddress })
    })
    servers.push(tcp)
    mqttPort = await listen(tcp, opts.mqttPort, opts.host)
  }
  let wsPort: number | null = null
  if (opts.wsPort >= 0) {
    const http = createHttpServer(upgradeOnly)
    sockets.push(attachWebSocket(http, 'ws', opts))
    const accept = front(http, opts.admitSocket)
    servers.push(accept)
    wsPort = await listen(accept, opts.wsPort, opts.host)
  }
  let tlsPort: number | null = null
  let wssPort: number | null = null
  const secure: Array<{ setSecureContext: (o: SecureContextOptions) => void }> = []
  const t = opts.tls
  if (t !== null) {
    // With a listener for it, Node leaves the socket of a failed handshake open (a handshake
    // timeout included: the socket would stay until the client closed it): end it here.
    const tlsClientError = (err: Error, socket: TLSSocket) => {
      socket.destroy()
      opts.onTlsError?.(err)
    }
    const tlsOptions = { ...t.context, requestCert: t.requestCert, rejectUnauthorized: t.rejectUnauthorized, minVersion: 'TLSv1.2' as const, handshakeTimeout: t.handshakeTimeoutMs }
    if (t.port >= 0) {
      const tlsServer = createTlsServer(tlsOptions, socket => opts.onStream(socket, { listener: 'tls', tls: socket, remoteAddress: socket.remoteAddress }))
      tlsServer.on('tlsClientError', tlsClientError)
      const accept = front(tlsServer, opts.admitSocket)
      servers.push(accept)
      secure.push(tlsServer)
      tlsPort = await listen(accept, t.port, opts.host)
    }
    if (t.wssPort >= 0) {
      const https = createHttpsServer(tlsOptions, upgradeOnly)
      https.on('tlsClientError', tlsClientError)
      sockets.push(attachWebSocket(https, 'wss', opts))
      const accept = front(https, opts.admitSocket)
      servers.push(accept)
      secure.push(https)
      wssPort = await listen(accept, t.wssPort, opts.host)
    }
  }
  return {
    mqttPort,
    wsPort,
    tlsPort,
    wssPort,
    setSecureContext: context => { for (const s of secure) s.setSecureContext({ ...context }) },
    async close () {
      for (const s of servers) stopAccepting(s)
      for (const w of sockets) w.close()
    }
  }
}
