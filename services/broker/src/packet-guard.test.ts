import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, connect, type Socket } from 'node:net'
import { test } from 'node:test'
import { Aedes, type Client } from 'aedes'
import mqttPacket from 'mqtt-packet'
import { guardPacketSize } from './packet-guard.js'

// A real aedes on a loopback socket; the guard is applied as the broker's onStream does.
async function broker (maxPacketBytes: number) {
  const aedes = new Aedes()
  await aedes.listen()
  let client: Client | null = null
  let refused = 0
  const server = createServer(socket => {
    client = aedes.handle(socket)
    guardPacketSize(client, maxPacketBytes, () => { refused++ })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as { port: number }).port
  const car = connect(port, '127.0.0.1')
  await once(car, 'connect')
  const packets: Array<{ cmd: string }> = []
  const parser = mqttPacket.parser({ protocolVersion: 4 })
  parser.on('packet', p => packets.push(p))
  car.on('data', d => parser.parse(d))
  car.on('error', () => {})
  const until = async (ok: () => boolean) => { while (!ok()) await new Promise(resolve => setTimeout(resolve, 5)) }
  return {
    car,
    packets,
    until,
    client: () => client!,
    refused: () => refused,
    async close () {
      car.destroy()
      await new Promise<void>(resolve => aedes.close(() => resolve()))
      server.close()
    }
  }
}

const connectPacket = mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'guard-car', keepalive: 30 } as never)

/** Writes the bytes one at a time, so the parser has to keep partial packets in its list. */
async function trickle (car: Socket, bytes: Buffer) {
  for (const b of bytes) {
    car.write(Buffer.of(b))
    await new Promise(resolve => setImmediate(resolve))
  }
}

test('the parser gets a plain BufferList, and packets split into single bytes still parse', async () => {
  const b = await broker(1_024)
  try {
    await b.until(() => b.client() !== null)
    const list = (b.client() as unknown as { _parser: { _list: object } })._parser._list
    assert.equal(typeof (list as { pipe?: unknown }).pipe, 'undefined', 'not a stream')
    assert.equal(typeof (list as { consume?: unknown }).consume, 'function')
    await trickle(b.car, connectPacket)
    await b.until(() => b.packets.length >= 1)
    assert.equal(b.packets[0]!.cmd, 'connack')
    await trickle(b.car, mqttPacket.generate({ cmd: 'publish', topic: 'guard/topic', payload: Buffer.alloc(200, 7), qos: 1, messageId: 9, retain: false, dup: false } as never))
    await b.until(() => b.packets.length >= 2)
    assert.equal(b.packets[1]!.cmd, 'puback')
    assert.equal((b.packets[1] as { messageId?: number }).messageId, 9)
    assert.equal(b.refused(), 0)
  } finally {
    await b.close()
  }
})

test('a packet larger than the limit closes the connection before it is complete', async () => {
  const b = await broker(1_024)
  try {
    b.car.write(connectPacket)
    await b.until(() => b.packets.length >= 1)
    const big = mqttPacket.generate({ cmd: 'publish', topic: 'guard/topic', payload: Buffer.alloc(64 * 1024, 1), qos: 0, retain: false, dup: false } as never)
    b.car.write(big.subarray(0, 4 * 1024)) // the start of it only: never a complete packet
    await once(b.car, 'close')
    assert.equal(b.refused(), 1)
  } finally {
    await b.close()
  }
})
