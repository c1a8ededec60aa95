// The fault matrix's verdicts from its evidence (pure: no Kafka): a lost acknowledged message, a
// car's resend and a message written twice are each counted as what they are.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { judgeTelemetry, SeqCounts } from '../loadtest/fault-evidence.js'

const rec = (car: string, seq: number) => Buffer.from(JSON.stringify({ schemaVersion: 1, vehicleId: car, seq, ts: 1 }))

test('lost, resent by the car and written twice are told apart by the broker\'s receive timestamps', () => {
  const kafka = new SeqCounts()
  for (let seq = 0; seq < 10; seq++) if (seq !== 4) kafka.addRecord('car-a', rec('car-a', seq), 1_000 + seq)
  kafka.addRecord('car-a', rec('car-a', 7), 5_000) // the car sent seq 7 again after reconnecting
  kafka.addRecord('car-a', rec('car-a', 8), 1_008) // seq 8 written a second time as received
  kafka.addRecord('car-b', rec('car-b', 0), 2_000)
  const v = judgeTelemetry(new Map([['car-a', [[0, 9]]], ['car-b', [[0, 1]]]]), kafka)
  assert.equal(v.acked, 12)
  assert.equal(v.ackedLost, 2)
  assert.deepEqual(v.lostSample, ['car-a/4', 'car-b/1'])
  assert.equal(v.duplicates, 2)
  assert.equal(v.duplicatesResentByCars, 1)
  assert.equal(v.duplicatesWrittenTwice, 1)
  assert.equal(v.carsWithDuplicates, 1)
  assert.equal(v.outOfOrder, 0)
})
