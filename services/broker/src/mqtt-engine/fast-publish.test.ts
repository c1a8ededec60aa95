import assert from 'node:assert/strict'
import { test } from 'node:test'
import mqttPacket from 'mqtt-packet'
import { scanFrame, type FrameInfo } from './fast-publish.js'

const TOPIC = Buffer.from('vehicles/car-1/telemetry')
const publish = (o: { topic?: string, qos?: 0 | 1 | 2, messageId?: number, dup?: boolean, retain?: boolean, payload?: Buffer }) =>
  mqttPacket.generate({ cmd: 'publish', topic: o.topic ?? TOPIC.toString(), qos: o.qos ?? 1, messageId: o.messageId ?? 7, dup: o.dup ?? false, retain: o.retain ?? false, payload: o.payload ?? Buffer.from('{"a":1}') } as never)
const scan = (buf: Buffer, off = 0, maxBytes = 1_024) => {
  const out: FrameInfo = { qos: 0, messageId: 0, payloadStart: 0, end: 0 }
  return { found: scanFrame(buf, off, TOPIC, maxBytes, out), out }
}

test('a QoS 1 PUBLISH to the topic is taken with its packet id and payload', () => {
  const payload = Buffer.alloc(300, 5) // two-byte remaining length
  const bytes = publish({ payload, messageId: 513 })
  const { found, out } = scan(bytes)
  assert.equal(found, 'take')
  assert.deepEqual({ qos: out.qos, messageId: out.messageId, end: out.end }, { qos: 1, messageId: 513, end: bytes.length })
  assert.deepEqual(bytes.subarray(out.payloadStart, out.end), payload)
})

test('QoS 0, and QoS 1 with DUP, are taken; frames are found at any offset', () => {
  const q0 = publish({ qos: 0 })
  const dup = publish({ dup: true, messageId: 9 })
  const both = Buffer.concat([q0, dup])
  const first = scan(both)
  assert.equal(first.found, 'take')
  assert.equal(first.out.qos, 0)
  assert.equal(first.out.end, q0.length)
  const second = scan(both, q0.length)
  assert.equal(second.found, 'take')
  assert.deepEqual([second.out.qos, second.out.messageId], [1, 9])
})

test('anything else is left to mqtt-packet', () => {
  const cases: Record<string, Buffer> = {
    'another topic': publish({ topic: 'vehicles/car-1/status' }),
    'same length, other bytes': publish({ topic: 'vehicles/car-2/telemetry' }),
    'a prefix of the topic': publish({ topic: 'vehicles/car-1/telemetr' }),
    'RETAIN set': publish({ retain: true }),
    'QoS 2': publish({ qos: 2 }),
    PINGREQ: mqttPacket.generate({ cmd: 'pingreq' }),
    'packet id 0': (() => { const b = publish({ messageId: 1 }); b.writeUInt16BE(0, 2 + 2 + TOPIC.length); return b })(),
    'remaining length of five bytes': Buffer.from([0x32, 0xff, 0xff, 0xff, 0xff, 0x01]),
    'shorter than its topic': (() => { const b = publish({}); return Buffer.concat([Buffer.from([0x32, 4]), b.subarray(2, 6)]) })()
  }
  for (const [name, bytes] of Object.entries(cases)) assert.equal(scan(bytes).found, 'other', name)
})

test('a frame larger than the packet limit is left to mqtt-packet (and the packet guard)', () => {
  const bytes = publish({ payload: Buffer.alloc(2_000) })
  assert.equal(scan(bytes, 0, 2_000).found, 'other')
  assert.equal(scan(bytes.subarray(0, 100), 0, 2_000).found, 'other', 'known from its header before it is complete')
  assert.equal(scan(bytes, 0, bytes.length).found, 'take')
})

test('every cut of a frame is incomplete', () => {
  const bytes = publish({ payload: Buffer.alloc(200, 1) })
  for (let cut = 1; cut < bytes.length; cut++) assert.equal(scan(bytes.subarray(0, cut)).found, 'incomplete', `cut at ${cut}`)
})
