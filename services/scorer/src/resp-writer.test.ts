import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Command } from 'ioredis'
import { RespWriter } from './resp-writer.js'

/** What ioredis itself sends for these arguments (its own encoder, the reference). */
const ioredisBytes = (args: Array<string | number | Buffer>) => {
  const w = new Command('x', args).toWritable({} as never)
  const all = typeof w === 'string' ? Buffer.from(w, 'utf8') : w
  // Drop `*<n>\r\n$1\r\nx\r\n`: RespWriter writes only the arguments.
  return all.subarray(all.indexOf('$1\r\nx\r\n') + 7)
}

test('arguments are encoded byte for byte as ioredis encodes them', () => {
  const args: Array<string | number | Buffer> = [
    'telemetry', '', 'fleet:vehicle:car-0042', 'é', 'naïve key with ü', `long ${'x'.repeat(100)}`, `long ü ${'y'.repeat(100)}`,
    '😀', 0, 7, 10, 99, 1_000, 1_760_000_000_123, Number.MAX_SAFE_INTEGER, -1, 0.5, 1.2345, -3.25e-7, 1e21, 2 ** 53 + 2,
    Buffer.from('{"speedMps":12.5}'), Buffer.alloc(0), Buffer.from([0, 255, 13, 10])
  ]
  const w = new RespWriter(8)
  for (const a of args) w.arg(a)
  assert.equal(w.count, args.length)
  assert.deepEqual(w.view(), ioredisBytes(args))
  assert.equal(w.bytes, w.view().length)
})

test('the buffer grows past its initial size without losing what was written', () => {
  const w = new RespWriter(16)
  const big = Buffer.alloc(100_000, 0x61)
  w.arg('a')
  w.arg(big)
  w.arg(123)
  assert.deepEqual(w.view(), ioredisBytes(['a', big, 123]))
})

test('whole commands are encoded byte for byte as ioredis encodes them', () => {
  const cases: Array<Array<string | number | Buffer>> = [
    ['HSET', 'fleet:vehicle:car-1', 'telemetry', Buffer.from('{"seq":1}'), 'seq', 1],
    ['EXPIRE', 'k', 600],
    ['ZADD', 'fleet:scores', ...Array.from({ length: 24 }, (_, i) => [i / 10, `car-${i}`]).flat()]
  ]
  const w = new RespWriter(8)
  const want: Buffer[] = []
  for (const [name, ...args] of cases) {
    w.array(args.length + 1)
    w.arg(name!)
    for (const a of args) w.arg(a)
    const c = new Command(String(name), args).toWritable({} as never)
    want.push(typeof c === 'string' ? Buffer.from(c, 'utf8') : c)
  }
  assert.deepEqual(w.view(), Buffer.concat(want))
})
