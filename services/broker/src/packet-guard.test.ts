import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { test } from 'node:test'
import { Aedes, type Client } from 'aedes'
import mqttPacket from 'mqtt-packet'
import { connectPacket, rawConnect, type RawConnection } from '../../../test/helpers/raw-mqtt.js'
import { createPacketGuard } from './packet-guard.js'

// A real aedes on a loopback socket, each stream set up as the broker's onStream does.
async function broker (maxPacketBytes: number) {
  const aedes = new Aedes()
  await aedes.listen()
  const clients: Client[] = []
  let refused = 0
  const guard = createPacketGuard(maxPacketBytes, () => { refused++ })
  const server = createServer(socket => {
    const client = aedes.handle(socket)
    guard(client)
    clients.push(client)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const car = await rawConnect((server.address() as { port: number }).port)
  return {
    car,
    clients,
    refused: () => refused,
    async close () {
      car.socket.destroy()
      await new Promise<void>(resolve => aedes.close(() => resolve()))
      server.close()
    }
  }
}

/** Writes the bytes one at a time, so the parser has to keep partial packets in its list. */
async function trickle (car: RawConnection, bytes: Buffer) {
  for (const b of bytes) {
    car.send(Buffer.of(b))
    await new Promise(resolve => setImmediate(resolve))
  }
}

test('the parser gets a plain BufferList, and packets split into single bytes still parse', async () => {
  const b = await broker(1_024)
  try {
    await trickle(b.car, connectPacket('guard-car'))
    assert.equal((await b.car.next('connack') as { returnCode: number }).returnCode, 0)
    const list = (b.clients[0] as unknown as { _parser: { _list: object } })._parser._list
    assert.equal(typeof (list as { pipe?: unknown }).pipe, 'undefined', 'not a stream')
    assert.equal(typeof (list as { consume?: unknown }).consume, 'function')
    await trickle(b.car, mqttPacket.generate({ cmd: 'publish', topic: 'guard/topic', payload: Buffer.alloc(200, 7), qos: 1, messageId: 9, retain: false, dup: false } as never))
    assert.equal((await b.car.next('puback') as { messageId: number }).messageId, 9)
    assert.equal(b.refused(), 0)
    // the parser no longer holds the CONNECT packet (and its password), only what it reads later
    assert.deepEqual((b.clients[0] as unknown as { _parser: { settings: object } })._parser.settings, { protocolVersion: 4, bridgeMode: undefined })
  } finally {
    await b.close()
  }
})

test('a packet larger than the limit closes the connection before it is complete', async () => {
  const b = await broker(1_024)
  try {
    b.car.send(connectPacket('guard-car'))
    await b.car.next('connack')
    const big = mqttPacket.generate({ cmd: 'publish', topic: 'guard/topic', payload: Buffer.alloc(64 * 1024, 1), qos: 0, retain: false, dup: false } as never)
    b.car.send(big.subarray(0, 4 * 1024)) // the start of it only: never a complete packet
    await b.car.closed
    assert.equal(b.refused(), 1)
  } finally {
    await b.close()
  }
})
