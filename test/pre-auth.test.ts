// What a client can cost before its credentials are checked (issue #21, points 5 and 7): memory a
// socket that never sent CONNECT can make the broker hold, and whether a wrong-password flood can
// lock real cars out. The broker runs in this process (its RSS is this process's).
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { connect as netConnect, type Socket } from 'node:net'
import { startTestBroker, type TestBroker } from './helpers/broker.js'
import { connackCode, uniqueFleetPrefix } from './helpers/cars.js'
import { connectPacket } from './helpers/raw-mqtt.js'

const prefix = uniqueFleetPrefix('preauth')
let tb: TestBroker
const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

before(async () => {
  tb = await startTestBroker({ FLEET_CONNECT_RATE_PER_ADDRESS: '0' })
})
after(async () => { await tb?.stop() })

/** A WebSocket (subprotocol mqtt) opened by hand, so frames of any announced size can be sent. */
async function rawWebSocket (port: number): Promise<Socket> {
  const socket = netConnect({ host: '127.0.0.1', port })
  socket.on('error', () => {})
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
  socket.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n')
  let head = ''
  await new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => {
      head += d.toString('latin1')
      if (!head.includes('\r\n\r\n')) return
      socket.off('data', onData)
      if (head.startsWith('HTTP/1.1 101')) resolve()
      else reject(new Error(head.split('\r\n')[0]))
    }
    socket.on('data', onData)
  })
  return socket
}

/** Sends one binary frame announcing `bytes`, streamed from one reused chunk; resolves with the
 *  bytes the broker took before closing the socket (or all of them). */
async function sendHugeFrame (socket: Socket, bytes: number): Promise<number> {
  const header = Buffer.alloc(14)
  header[0] = 0x82 // FIN, binary
  header[1] = 0x80 | 127 // masked, 64-bit length
  header.writeBigUInt64BE(BigInt(bytes), 2)
  header.writeUInt32BE(0x11223344, 10) // mask
  socket.write(header)
  const chunk = Buffer.alloc(64 * 1024)
  let sent = 0
  let closed = socket.destroyed
  socket.once('close', () => { closed = true })
  while (sent < bytes && !closed) {
    if (!socket.write(chunk)) await new Promise<void>(resolve => { socket.once('drain', resolve); socket.once('close', resolve) })
    sent += chunk.length
  }
  return sent
}

test('WebSocket: a socket that never sent CONNECT sends a 90 MiB frame; it is closed at the header and RSS stays flat', async () => {
  assert.ok(tb.wsPort !== null)
  const rss0 = process.memoryUsage().rss
  let peak = rss0
  const sample = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss) }, 20)
  try {
    const sockets = await Promise.all([0, 1, 2].map(() => rawWebSocket(tb.wsPort!)))
    const taken = await Promise.all(sockets.map(s => sendHugeFrame(s, 90 * 2 ** 20)))
    await sleep(300)
    const grownMB = (peak - rss0) / 2 ** 20
    for (const s of sockets) s.destroy()
    assert.ok(grownMB < 40, `RSS grew by ${grownMB.toFixed(0)} MB for three sockets that never sent CONNECT`)
    assert.equal(await tb.metric('fleet_broker_refused_total', { reason: 'packet_too_large' }), 3)
    assert.ok(taken.every(n => n < 90 * 2 ** 20), `the broker read every byte of the frames (${taken.map(n => (n / 2 ** 20).toFixed(1)).join(', ')} MiB)`)
  } finally {
    clearInterval(sample)
  }
})

/** One wrong-password CONNECT from `localAddress`; resolves with its CONNACK code (-1: closed without one). */
function wrongPassword (port: number, localAddress: string, id: string): Promise<number> {
  return new Promise(resolve => {
    const socket = netConnect({ host: '127.0.0.1', port, localAddress })
    socket.on('error', () => {})
    let code = -1
    socket.once('connect', () => socket.write(connectPacket(id, id, 'v1.wrong-password')))
    socket.once('data', d => { if (d[0] === 0x20) code = d[3]!; socket.destroy() })
    socket.once('close', () => resolve(code))
  })
}

test('a wrong-password flood does not lock real cars out; the flooding address is limited, counted', async () => {
  const pod = await startTestBroker({ FLEET_CONNECT_RATE_PER_S: '50', FLEET_CONNECT_RATE_PER_ADDRESS: '0' })
  try {
    let flooding = true
    const codes: number[] = []
    const stream = async (s: number) => {
      for (let round = 0; flooding && round < 200; round++) {
        codes.push(...await Promise.all(Array.from({ length: 25 }, (_, i) => wrongPassword(pod.mqttPort, '127.0.0.2', `${prefix}-x${s}-${round}-${i}`))))
      }
    }
    const flood = Promise.all([0, 1, 2, 3].map(stream)).then(() => codes)
    await sleep(300)
    const real = await Promise.all(Array.from({ length: 20 }, (_, i) => connackCode(`${prefix}-real${i}`, pod.mqttPort)))
    flooding = false
    const floodCodes = await flood
    assert.equal(real.filter(c => c === 0).length, 20, `real cars' CONNACKs during the flood: ${real.join(',')}`)
    const limited = await pod.metric('fleet_broker_refused_total', { reason: 'auth_failure_rate' })
    assert.ok(limited > 0 && floodCodes.filter(c => c === 3).length === limited, `flood: ${floodCodes.filter(c => c === 4).length} × CONNACK 4, ${limited} limited`)
    assert.equal(await pod.metric('fleet_broker_auth_failure_addresses'), 1)
    assert.ok(floodCodes.filter(c => c === 4).length <= 20 + floodCodes.length / 10, 'past its burst the address gets few credential checks')
  } finally {
    await pod.stop()
  }
})
