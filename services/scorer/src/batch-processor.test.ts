import { test } from 'node:test'
import assert from 'node:assert/strict'
import { splitByCar } from './batch-processor.js'
import type { ValidRow } from './batch-scoring.js'

const row = (vehicleId: string, seq: number) => ({ telemetry: { vehicleId, seq } }) as unknown as ValidRow

test('a batch splits into parts of different cars, each car whole and in order', () => {
  const rows: ValidRow[] = []
  for (let seq = 0; seq < 5; seq++) for (let car = 0; car < 400; car++) rows.push(row(`car-${car}`, seq))
  const parts = splitByCar(rows, 500)
  assert.ok(parts.length >= 3 && parts.length <= 4, `${parts.length} parts for 2,000 rows of 500`)
  assert.equal(parts.reduce((n, p) => n + p.length, 0), rows.length, 'every row in a part')
  const partOf = new Map<string, number>()
  parts.forEach((p, i) => {
    const last = new Map<string, number>()
    for (const r of p) {
      const { vehicleId, seq } = r.telemetry
      assert.equal(partOf.get(vehicleId) ?? i, i, `${vehicleId} in one part`)
      partOf.set(vehicleId, i)
      assert.ok(seq > (last.get(vehicleId) ?? -1), `${vehicleId}'s rows in order`)
      last.set(vehicleId, seq)
    }
  })
  assert.equal(partOf.size, 400)
})

test('no split when parts are off or the batch is small', () => {
  const rows = [row('a', 1), row('b', 1), row('a', 2)]
  assert.deepEqual(splitByCar(rows, 0), [rows])
  assert.deepEqual(splitByCar(rows, 3), [rows])
  assert.deepEqual(splitByCar([], 16), [[]])
})
