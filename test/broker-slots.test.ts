// The fault runs' spread of cars over brokers (pure): BROKER_SLOTS puts 15,000 cars on the pod a
// drain ends and sends them evenly to the others; bad lists are refused with the reason.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { brokerSlotsOf, carsStartingOn } from '../loadtest/broker-slots.js'

test('unset: every broker once, in order (the even spread)', () => {
  assert.deepEqual(brokerSlotsOf(undefined, 3), [0, 1, 2])
  assert.deepEqual(brokerSlotsOf(' ', 2), [0, 1])
  assert.deepEqual(carsStartingOn([0, 1, 2], 10, 1, 5), [1, 4, 7])
})

test('an uneven list: 15,000 of 35,000 cars on broker 1, and where they go when it drains', () => {
  const slots = brokerSlotsOf('1,0,1,2,1,0,1,2,1,0,1,2,0,2', 3)
  const cars = 35_000
  const start = [0, 0, 0]
  const after = [0, 0, 0]
  for (let i = 0; i < cars; i++) {
    const b = slots[i % slots.length]!
    start[b]!++
    // a car whose broker goes moves to the next slot's broker
    after[b === 1 ? slots[(i + 1) % slots.length]! : b]!++
  }
  assert.deepEqual(start, [10_000, 15_000, 10_000])
  assert.deepEqual(after, [17_500, 0, 17_500])
  assert.equal(carsStartingOn(slots, cars, 1, 15_001).length, 15_000)
  assert.deepEqual(carsStartingOn(slots, cars, 2, 2), [3, 7])
})

test('bad lists are refused, naming what is wrong', () => {
  assert.throws(() => brokerSlotsOf('0,1,3', 3), /each entry must be a broker index 0…2/)
  assert.throws(() => brokerSlotsOf('0,x,1', 3), /each entry must be a broker index/)
  assert.throws(() => brokerSlotsOf('0,1,0', 3), /never names broker 2/)
})
