import assert from 'node:assert/strict'
import { PassThrough } from 'node:stream'
import { test } from 'node:test'
import type { Client } from './mqtt-engine/index.js'
import { createPubackBatch } from './puback-batch.js'

test('one car\'s PUBACKs queued in one turn leave in one write, in order; a v5 refusal carries its reason code', async () => {
  const conn = new PassThrough()
  const writes: Buffer[] = []
  conn.on('data', (d: Buffer) => writes.push(d))
  const client = { conn } as unknown as Client
  const queue = createPubackBatch()
  queue(client, 1)
  queue(client, 2)
  queue(client, 3, 0x97)
  await new Promise(resolve => setImmediate(resolve))
  await new Promise(resolve => setImmediate(resolve))
  assert.equal(writes.length, 1)
  assert.deepEqual([...writes[0]!], [0x40, 2, 0, 1, 0x40, 2, 0, 2, 0x40, 3, 0, 3, 0x97])
})
