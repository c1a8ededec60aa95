import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { test } from 'node:test'
import { Aedes, type Client } from 'aedes'
import mqttPacket from 'mqtt-packet'
import { connectPacket, rawConnect, type RawConnection } from '../../../../test/helpers/raw-mqtt.js'
import { createPacketGuard, type FastPublish } from './packet-guard.js'

// A real aedes on a loopback socket, each stream set up as the broker's onStream does.
async function broker (maxPacketBytes: number, fast?: FastPublish, isHeld?: (client: Client) => boolean) {
  const aedes = new Aedes()
  await aedes.listen()
  const clients: Client[] = []
  let refused = 0
  const guard = createPacketGuard(maxPacketBytes, () => { refused++ }, fast, isHeld)
  const server = createServer(socket => {
    const client = aedes.handle(socket)
    guard(client)
    clients.push(client)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const car = await rawConnect((server.address() as { port: number }).port)
  return {
    aedes,
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

const TOPIC = 'vehicles/fast-car/telemetry'

/** A fast path for the car 'fast-car' that records what it takes; `hold` makes take() report the
 *  car at its window. */
function recordingFastPath () {
  const taken: Array<{ qos: number, messageId: number, payload: string }> = []
  const resumes: Array<() => void> = []
  let hold = false
  let counted = 0
  const fast: FastPublish = {
    vehicleOf: client => client.id === 'fast-car' ? 'fast-car' : undefined,
    topicOf: vehicleId => `vehicles/${vehicleId}/telemetry`,
    take: (_client, _vehicleId, qos, messageId, payload, resume) => {
      taken.push({ qos, messageId, payload: payload.toString() })
      if (hold) resumes.push(resume)
      return hold
    },
    taken: count => { counted += count }
  }
  return { fast, taken, resumes, setHold: (h: boolean) => { hold = h }, counted: () => counted }
}

const pub = (topic: string, messageId: number, payload: string, qos: 0 | 1 = 1) =>
  mqttPacket.generate({ cmd: 'publish', topic, payload: Buffer.from(payload), qos, messageId, retain: false, dup: false } as never)
const until = async (what: () => boolean, ms = 3_000) => {
  const deadline = Date.now() + ms
  while (!what()) {
    if (Date.now() > deadline) throw new Error('timed out')
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}

/** A broker with the recording fast path, and its raw car connected as `clientId`. */
async function withFastPath (clientId: string, run: (b: Awaited<ReturnType<typeof broker>>, f: ReturnType<typeof recordingFastPath>) => Promise<void>, isHeld?: (client: Client) => boolean) {
  const f = recordingFastPath()
  const b = await broker(1_024, f.fast, isHeld)
  try {
    b.car.send(connectPacket(clientId))
    await b.car.next('connack')
    await run(b, f)
  } finally {
    await b.close()
  }
}

test('fast path: a car\'s telemetry is taken in order, split frames included; everything else goes through aedes', async () => {
  await withFastPath('fast-car', async (b, f) => {
    const viaAedes: string[] = []
    b.aedes.authorizePublish = (_client, packet, done) => { viaAedes.push(`${packet.topic}#${packet.messageId ?? '-'}`); done(null) }
    // one write: two telemetry frames, a PINGREQ, a publish elsewhere, then telemetry again
    b.car.send(Buffer.concat([pub(TOPIC, 1, 'a'), pub(TOPIC, 2, 'b', 0), mqttPacket.generate({ cmd: 'pingreq' }), pub('other/topic', 3, 'c'), pub(TOPIC, 4, 'd')]))
    await b.car.next('pingresp')
    await b.car.next('puback') // aedes' own, for other/topic
    await until(() => viaAedes.length === 2)
    assert.deepEqual(f.taken, [{ qos: 1, messageId: 1, payload: 'a' }, { qos: 0, messageId: 0, payload: 'b' }])
    assert.deepEqual(viaAedes, ['other/topic#3', `${TOPIC}#4`], 'after a frame it does not take, the rest of that read goes to mqtt-packet')
    // a frame in single bytes, then two frames whose boundary is inside a write
    await trickle(b.car, pub(TOPIC, 5, 'e'.repeat(150)))
    const two = Buffer.concat([pub(TOPIC, 6, 'f'), pub(TOPIC, 7, 'g')])
    b.car.send(two.subarray(0, 20))
    await new Promise(resolve => setTimeout(resolve, 20))
    b.car.send(two.subarray(20))
    await until(() => f.taken.length === 5)
    assert.deepEqual(f.taken.slice(2).map(t => [t.messageId, t.payload]), [[5, 'e'.repeat(150)], [6, 'f'], [7, 'g']])
    assert.equal(viaAedes.length, 2, 'nothing of these went through aedes')
    assert.equal(b.refused(), 0)
    assert.equal(f.counted(), 5, 'what it took is counted')
  })
})

test('fast path: while aedes pauses a client nothing is read; a held frame counts in aedes\' read loop; nothing is lost', async () => {
  await withFastPath('fast-car', async (b, f) => {
    const client = b.clients[0] as unknown as { pause: () => void, resume: () => void, _parsingBatch: number }
    f.setHold(true)
    b.car.send(pub(TOPIC, 1, 'a'))
    await until(() => f.taken.length === 1)
    assert.equal(client._parsingBatch, 1, 'the held frame is one packet aedes waits for')
    client.pause()
    f.setHold(false)
    b.car.send(pub(TOPIC, 2, 'b'))
    await new Promise(resolve => setTimeout(resolve, 50))
    b.car.send(pub(TOPIC, 3, 'c'))
    await new Promise(resolve => setTimeout(resolve, 100))
    assert.equal(f.taken.length, 1, 'nothing read while held')
    f.resumes.shift()!()
    client.resume()
    await until(() => f.taken.length === 3)
    assert.deepEqual(f.taken.map(t => t.messageId), [1, 2, 3])
  })
})

test('fast path: a client it has no topic for (not a car) goes through aedes as before', async () => {
  await withFastPath('someone-else', async (b, f) => {
    b.car.send(pub(TOPIC, 1, 'a'))
    assert.equal((await b.car.next('puback') as { messageId: number }).messageId, 1)
    assert.equal(f.taken.length, 0)
  })
})

test('fast path: an oversized frame still closes the connection', async () => {
  await withFastPath('fast-car', async (b, f) => {
    b.car.send(pub(TOPIC, 1, 'x'.repeat(4_000)).subarray(0, 2_000))
    await b.car.closed
    assert.equal(b.refused(), 1)
    assert.equal(f.taken.length, 0)
  })
})

test('direct read: a connected car\'s data skips the stream\'s \'readable\' round; held or paused, it waits in the stream and is read in order', async () => {
  let held = false
  await withFastPath('fast-car', async (b, f) => {
    const conn = b.clients[0]!.conn
    let readables = 0
    conn.on('readable', () => { readables++ })
    b.car.send(pub(TOPIC, 1, 'a'))
    await until(() => f.taken.length === 1)
    b.car.send(Buffer.concat([pub(TOPIC, 2, 'b'), mqttPacket.generate({ cmd: 'pingreq' })]))
    await b.car.next('pingresp')
    await until(() => f.taken.length === 2)
    assert.equal(readables, 0, 'the reads went straight to the parser')
    // held (car-flow.ts): the socket's data stays in the stream, unread
    held = true
    b.car.send(pub(TOPIC, 3, 'c'))
    await until(() => conn.readableLength > 0)
    b.car.send(pub(TOPIC, 4, 'd'))
    await new Promise(resolve => setTimeout(resolve, 50))
    assert.equal(f.taken.length, 2, 'nothing read while held')
    held = false
    ;(b.clients[0] as unknown as { _nextBatch: () => void })._nextBatch() // what the car's release does
    await until(() => f.taken.length === 4)
    // paused by aedes (a drain, the shutdown): the same
    const client = b.clients[0] as unknown as { pause: () => void, resume: () => void }
    client.pause()
    b.car.send(pub(TOPIC, 5, 'e'))
    await until(() => conn.readableLength > 0)
    assert.equal(f.taken.length, 4, 'nothing read while paused')
    client.resume()
    await until(() => f.taken.length === 5)
    b.car.send(pub(TOPIC, 6, 'f'))
    await until(() => f.taken.length === 6)
    assert.deepEqual(f.taken.map(t => t.messageId), [1, 2, 3, 4, 5, 6], 'in order, none lost')
    assert.ok(readables > 0, 'held and paused data took the stream')
  }, () => held)
})

test('one read buffer for every car socket: what a read leaves to the fast path, mqtt-packet or the stream is a copy the next read cannot change', async () => {
  const kept: Buffer[] = []
  const fast: FastPublish = {
    vehicleOf: client => client.id === 'fast-car' ? 'fast-car' : undefined,
    topicOf: vehicleId => `vehicles/${vehicleId}/telemetry`,
    take: (_client, _vehicleId, _qos, _messageId, payload) => { kept.push(payload); return false },
    taken: () => {}
  }
  let held = false
  const b = await broker(1_024, fast, () => held)
  try {
    const viaAedes: Buffer[] = []
    b.aedes.authorizePublish = (_client, packet, done) => { viaAedes.push(packet.payload as Buffer); done(null) }
    b.car.send(connectPacket('fast-car'))
    await b.car.next('connack')
    const conn = b.clients[0]!.conn as unknown as Record<symbol, unknown>
    assert.ok(Object.getOwnPropertySymbols(conn).some(k => k.description === 'kBuffer' && Buffer.isBuffer(conn[k])), 'the socket reads into a buffer of its own')
    b.car.send(pub(TOPIC, 1, 'a'.repeat(40)))
    await until(() => kept.length === 1)
    // a publish elsewhere, its second half in the next read: mqtt-packet keeps the first half
    const other = pub('other/topic', 2, 'b'.repeat(40))
    b.car.send(other.subarray(0, 20))
    await new Promise(resolve => setTimeout(resolve, 20))
    b.car.send(other.subarray(20))
    await b.car.next('puback')
    // held: the next read waits in the stream while later reads fill the buffer
    held = true
    b.car.send(pub(TOPIC, 3, 'c'.repeat(40)))
    await until(() => b.clients[0]!.conn.readableLength > 0)
    held = false
    b.car.send(pub(TOPIC, 4, 'd'.repeat(40)))
    ;(b.clients[0] as unknown as { _nextBatch: () => void })._nextBatch()
    await until(() => kept.length === 3)
    assert.deepEqual(kept.map(p => p.toString()), ['a'.repeat(40), 'c'.repeat(40), 'd'.repeat(40)])
    assert.deepEqual(viaAedes.map(p => p.toString()), ['b'.repeat(40)])
  } finally {
    await b.close()
  }
})
