// The lean car client against a plain aedes broker (in memory, no fleet policy): CONNECT with a
// persistent session, QoS 1 publish answered by PUBACK, a command received and acknowledged,
// a refused CONNECT, and a reconnect to the next server when its broker goes away.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, type Server } from 'node:net'
import { after, test } from 'node:test'
import { Aedes } from 'aedes'
import { LeanClient } from './lean-client.js'

const servers: Server[] = []
const brokers: Aedes[] = []
after(async () => {
  for (const s of servers) s.close()
  for (const b of brokers) await new Promise(resolve => b.close(() => resolve(null)))
})

async function startAedes (opts: ConstructorParameters<typeof Aedes>[0] = {}): Promise<{ aedes: Aedes, server: Server, port: number }> {
  const aedes = await Aedes.createBroker(opts)
  const server = createServer(aedes.handle)
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  servers.push(server)
  brokers.push(aedes)
  return { aedes, server, port: (server.address() as { port: number }).port }
}

const options = (ports: number[], clientId = 'car-1') => ({ servers: ports.map(port => ({ host: '127.0.0.1', port })), clientId, username: clientId, password: 'secret', clean: false, keepalive: 30, reconnectPeriod: 100, connectTimeout: 5_000 })

test('connects with its credentials, publishes QoS 1 with a PUBACK callback, answers a command', async () => {
  let seen: { username?: string, password?: string, clean?: boolean } = {}
  const { aedes, port } = await startAedes({
    authenticate: (client, username, password, done) => {
      seen = { username, password: password?.toString(), clean: client.clean }
      done(null, true)
    }
  })
  const published: Array<{ topic: string, qos: number }> = []
  aedes.on('publish', (packet, client) => { if (client) published.push({ topic: packet.topic, qos: packet.qos }) })
  const car = new LeanClient(options([port]))
  await once(car, 'connect')
  assert.deepEqual(seen, { username: 'car-1', password: 'secret', clean: false })
  car.subscribe('vehicles/car-1/commands', { qos: 1 })
  await new Promise(resolve => setTimeout(resolve, 100))
  await new Promise<void>((resolve, reject) => car.publish('vehicles/car-1/telemetry', '{"seq":1}', { qos: 1 }, err => err ? reject(err) : resolve()))
  assert.deepEqual(published.filter(p => p.topic === 'vehicles/car-1/telemetry'), [{ topic: 'vehicles/car-1/telemetry', qos: 1 }])
  const message = once(car, 'message')
  aedes.publish({ cmd: 'publish', topic: 'vehicles/car-1/commands', payload: Buffer.from('{"commandId":"c1"}'), qos: 1, retain: false, dup: false }, () => {})
  const [topic, payload] = await message as [string, Buffer]
  assert.equal(topic, 'vehicles/car-1/commands')
  assert.equal(payload.toString(), '{"commandId":"c1"}')
  await car.endAsync()
  assert.equal(car.connected, false)
})

test('a refused CONNECT is an error with the CONNACK code', async () => {
  const { port } = await startAedes({ authenticate: (_c, _u, _p, done) => done(Object.assign(new Error('no'), { returnCode: 4 }) as never, false) })
  const car = new LeanClient(options([port], 'car-2'))
  const [err] = await once(car, 'error') as [Error & { code?: number }]
  assert.equal(err.code, 4)
  car.end(true)
})

test('when its broker goes away the car reconnects to the next server; a publish in flight fails', async () => {
  const a = await startAedes()
  const b = await startAedes()
  const car = new LeanClient(options([a.port, b.port], 'car-3'))
  await once(car, 'connect')
  // a broker that never acknowledges: hold the publish, then drop every client
  a.aedes.authorizePublish = () => {}
  const failed = new Promise<Error | undefined>(resolve => car.publish('t', 'x', { qos: 1 }, resolve))
  await new Promise(resolve => setTimeout(resolve, 50))
  a.server.close()
  for (const c of Object.values((a.aedes as unknown as { clients: Record<string, { conn: { destroy: () => void } }> }).clients)) c.conn.destroy()
  assert.match(String(await failed), /connection closed/)
  const reconnected = once(car, 'connect')
  await reconnected
  await new Promise<void>((resolve, reject) => car.publish('t', 'y', { qos: 1 }, err => err ? reject(err) : resolve()))
  car.end(true)
})

test('a malformed packet after a reconnect closes that connection, not the process', async () => {
  const connack = Buffer.from([0x20, 0x02, 0x00, 0x00])
  let accepted = 0
  // The first connection is dropped after its CONNACK; the second gets a CONNACK and then bytes no
  // MQTT packet starts with (packet type 0 is reserved).
  const server = createServer(socket => {
    const n = ++accepted
    socket.once('data', () => {
      socket.write(connack)
      if (n === 1) setTimeout(() => socket.destroy(), 20)
      else setTimeout(() => socket.write(Buffer.from([0x00, 0x00])), 20)
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  servers.push(server)
  const port = (server.address() as { port: number }).port
  const car = new LeanClient(options([port], 'car-4'))
  const errors: Error[] = []
  car.on('error', err => errors.push(err))
  // (events.once would reject on the 'error' this test expects)
  const next = (event: string) => new Promise(resolve => car.once(event, resolve))
  await next('connect')
  await next('close')
  await next('connect')
  await next('close')
  assert.ok(errors.length >= 1, 'the parse error is reported on the client')
  car.end(true)
})
