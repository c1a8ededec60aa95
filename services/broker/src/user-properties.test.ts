import assert from 'node:assert/strict'
import { test } from 'node:test'
import { MAX_USER_PROPERTIES, MAX_USER_PROPERTY_BYTES, userPropertyHeaders } from './user-properties.js'

test('user properties become headers; repeated names keep every value', () => {
  assert.deepEqual(userPropertyHeaders(undefined), { ok: true, headers: undefined })
  assert.deepEqual(userPropertyHeaders({ traceparent: '00-abc-def-01', tag: ['a', 'b'] }), { ok: true, headers: { traceparent: '00-abc-def-01', tag: 'a, b' } })
})

test('past the count, the size or on a reserved name the message is refused', () => {
  const many = Object.fromEntries(Array.from({ length: MAX_USER_PROPERTIES + 1 }, (_, i) => [`k${i}`, 'v']))
  assert.equal(userPropertyHeaders(many).ok, false)
  assert.equal(userPropertyHeaders({ big: 'x'.repeat(MAX_USER_PROPERTY_BYTES) }).ok, false)
  assert.equal(userPropertyHeaders({ reason: 'mine' }).ok, false)
})
