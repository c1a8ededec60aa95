// The broker's network listeners: MQTT over TCP and MQTT over WebSocket. Each accepted stream is
// handed to aedes with the per-connection packet-size guard.
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http'
import { createServer as createNetServer, type AddressInfo, type Server as NetServer } from 'node:net'
import type { Duplex } from 'node:stream'
import type { IncomingMessage } from 'node:http'
import { WebSocketServer, createWebSocketStream } from 'ws'
import type { Aedes } from 'aedes'

export interface Listeners {
  mqttPort: number
  wsPort: number | null
  /** Stops accepting new connections; existing ones stay. */
  close: () => Promise<void>
}

export interface ListenOptions {
  host: string
  mqttPort: number
  wsPort: number
  onStream: (stream: Duplex, req?: IncomingMessage) => void
}

const listen = (server: NetServer | HttpServer, port: number, host: string) => new Promise<number>((resolve, reject) => {
  server.once('error', reject)
  server.listen(port, host, () => {
    server.off('error', reject)
    resolve((server.address() as AddressInfo).port)
  })
})

// close() stops accepting at once; its callback would wait for every open connection to end,
// which is the broker's job (aedes.close), so it is not awaited.
const stopAccepting = (server: NetServer | HttpServer) => { server.close() }

export async function startListeners (opts: ListenOptions): Promise<Listeners> {
  const tcp = createNetServer({ noDelay: true }, socket => opts.onStream(socket))
  const mqttPort = await listen(tcp, opts.mqttPort, opts.host)
  let http: HttpServer | null = null
  let wss: WebSocketServer | null = null
  let wsPort: number | null = null
  if (opts.wsPort >= 0) {
    http = createHttpServer((_req, res) => { res.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over WebSocket only\n') })
    wss = new WebSocketServer({ server: http, handleProtocols: protocols => protocols.has('mqtt') ? 'mqtt' : false })
    wss.on('connection', (ws, req) => opts.onStream(createWebSocketStream(ws), req))
    wsPort = await listen(http, opts.wsPort, opts.host)
  }
  return {
    mqttPort,
    wsPort,
    async close () {
      stopAccepting(tcp)
      if (wss !== null) wss.close()
      if (http !== null) stopAccepting(http)
    }
  }
}

export type { Aedes }
