// The batch connection's reply reading against a fake Redis (a socket server the test scripts):
// replies in any chunking, sends in flight answered in order, the first error reply, a reply of a
// kind no write answers with, replies nobody asked for, silence, a refused connection, the
// handshake, an error line too long to keep. The real Redis: test/scorer-redis-writes.test.ts.
import assert from 'node:assert/strict'
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { after, test } from 'node:test'
import { RedisPipeline, type PipelineTarget } from './redis-pipeline.js'

const servers: Server[] = []
after(() => { for (const s of servers) s.close() })

/** A fake Redis: `onData` gets each connection's bytes and answers as the test likes. */
async function fake (onData: (socket: Socket, data: Buffer, conn: number) => void): Promise<{ target: PipelineTarget, connections: () => number }> {
  let conns = 0
  const server = createServer(socket => {
    const conn = ++conns
    socket.on('data', d => onData(socket, d, conn))
    socket.on('error', () => {})
  })
  servers.push(server)
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return { target: { host: '127.0.0.1', port: (server.address() as AddressInfo).port }, connections: () => conns }
}

const commands = (n: number) => Buffer.from('*3\r\n$4\r\nHSET\r\n$1\r\nk\r\n$1\r\nv\r\n'.repeat(n))
const countCommands = (d: Buffer) => d.toString('latin1').split('*3\r\n').length - 1

test('replies in any chunking: two sends in flight resolve in order', async () => {
  const { target } = await fake((socket, d) => {
    // answer one byte per write, with pauses, so that lines are cut anywhere
    const reply = Buffer.from(':1\r\n'.repeat(countCommands(d)))
    let i = 0
    const drip = () => { if (i < reply.length) { socket.write(reply.subarray(i, ++i)); setImmediate(drip) } }
    drip()
  })
  const p = new RedisPipeline(() => target)
  const order: number[] = []
  await Promise.all([
    p.send(commands(3), 3).then(() => order.push(1)),
    p.send(commands(2), 2).then(() => order.push(2))
  ])
  assert.deepEqual(order, [1, 2])
  p.close()
})

test('the first error reply rejects the send once all its replies came; the next send connects again', async () => {
  const { target, connections } = await fake((socket, d) => {
    const n = countCommands(d)
    socket.write(n === 3 ? ':1\r\n-WRONGTYPE Operation against a key holding the wrong kind of value\r\n-ERR second\r\n' : ':1\r\n'.repeat(n))
  })
  const p = new RedisPipeline(() => target)
  await assert.rejects(p.send(commands(3), 3), { message: 'WRONGTYPE Operation against a key holding the wrong kind of value' })
  await p.send(commands(1), 1)
  assert.equal(connections(), 2)
  p.close()
})

test('a reply of a kind no write answers with closes the connection and fails the send', async () => {
  const { target } = await fake(socket => socket.write('$3\r\nabc\r\n'))
  const p = new RedisPipeline(() => target)
  await assert.rejects(p.send(commands(1), 1), /unexpected reply type "\$"/)
  p.close()
})

test('replies nobody waited for close the connection; sends after it connect again', async () => {
  const { target, connections } = await fake((socket, d) => socket.write(':1\r\n'.repeat(countCommands(d) + 1)))
  const p = new RedisPipeline(() => target)
  // The extra reply arrives with (or right after) the awaited one: the send resolves, the connection closes.
  await p.send(commands(1), 1)
  await new Promise(resolve => setTimeout(resolve, 50))
  await p.send(commands(1), 1)
  assert.equal(connections(), 2)
  p.close()
})

test('silence: a send not answered in time fails and closes the connection', async () => {
  const { target } = await fake(() => {})
  const p = new RedisPipeline(() => target, { timeoutMs: 200 })
  const t0 = Date.now()
  await assert.rejects(p.send(commands(2), 2), /no reply to the batch's writes within 200 ms/)
  assert.ok(Date.now() - t0 < 2_000)
  p.close()
})

test('a refused connection fails the send at once', async () => {
  const { target } = await fake(() => {})
  servers.pop()!.close()
  await new Promise(resolve => setTimeout(resolve, 50))
  const p = new RedisPipeline(() => target, { timeoutMs: 5_000 })
  const t0 = Date.now()
  await assert.rejects(p.send(commands(1), 1), /^Error: redis: connect ECONNREFUSED/)
  assert.ok(Date.now() - t0 < 1_000)
})

test('AUTH and SELECT go first on a new connection, and their replies are read', async () => {
  const seen: string[] = []
  const { target } = await fake((socket, d) => {
    const text = d.toString('latin1')
    seen.push(text)
    const n = text.split('*').length - 1
    socket.write(text.includes('AUTH') ? '+OK\r\n+OK\r\n' + ':1\r\n'.repeat(n - 2) : ':1\r\n'.repeat(n))
  })
  const p = new RedisPipeline(() => ({ ...target, username: 'scorer', password: 'pw', db: 3 }))
  await p.send(commands(2), 2)
  await p.send(commands(1), 1)
  const all = seen.join('')
  assert.ok(all.startsWith('*3\r\n$4\r\nAUTH\r\n$6\r\nscorer\r\n$2\r\npw\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n*3\r\n$4\r\nHSET'), all)
  assert.equal(all.split('AUTH').length - 1, 1, 'once per connection')
  p.close()
})

test('a refused AUTH fails the send with the answer', async () => {
  const { target } = await fake((socket, d) => {
    const n = d.toString('latin1').split('*').length - 1
    socket.write('-WRONGPASS invalid username-password pair or user is disabled.\r\n' + '-NOAUTH Authentication required.\r\n'.repeat(n - 1))
  })
  const p = new RedisPipeline(() => ({ ...target, password: 'nope' }))
  await assert.rejects(p.send(commands(1), 1), /^Error: WRONGPASS/)
  p.close()
})

test('an error line is kept up to 512 bytes, however long it is', async () => {
  const { target } = await fake(socket => socket.write(`-ERR ${'x'.repeat(200_000)}\r\n`))
  const p = new RedisPipeline(() => target)
  const err = await p.send(commands(1), 1).then(() => null, (e: Error) => e)
  assert.ok(err !== null)
  assert.ok(err.message.startsWith('ERR xxx'))
  assert.ok(err.message.length <= 512, `kept ${err.message.length}`)
  p.close()
})
