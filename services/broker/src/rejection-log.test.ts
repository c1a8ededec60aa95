import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Redis } from 'ioredis'
import { pino } from 'pino'
import { createRegistry } from '../../shared/src/metrics.js'
import { parseRejection, REJECTIONS_KEPT, REJECTIONS_TTL_S, rejectionsKey } from '../../shared/src/rejections.js'
import { createRejectionLog } from './rejection-log.js'

/** A pipeline that records its commands; exec runs them against a list per key, as Redis would. */
function fakeRedis (fail = false) {
  const lists = new Map<string, string[]>()
  const ttls = new Map<string, number>()
  const execs: Array<Array<[string, ...unknown[]]>> = []
  const redis = {
    pipeline () {
      const cmds: Array<[string, ...unknown[]]> = []
      const p = {
        lpush: (key: string, ...values: string[]) => { cmds.push(['lpush', key, ...values]); return p },
        ltrim: (key: string, start: number, stop: number) => { cmds.push(['ltrim', key, start, stop]); return p },
        expire: (key: string, s: number) => { cmds.push(['expire', key, s]); return p },
        exec: async () => {
          execs.push(cmds)
          if (fail) throw new Error('connection is closed')
          for (const [cmd, key, ...args] of cmds) {
            const list = lists.get(key as string) ?? []
            if (cmd === 'lpush') for (const v of args) list.unshift(v as string)
            if (cmd === 'ltrim') list.splice((args[1] as number) + 1)
            if (cmd === 'expire') ttls.set(key as string, args[0] as number)
            lists.set(key as string, list)
          }
          return cmds.map(() => [null, 'OK'])
        }
      }
      return p
    }
  } as unknown as Pick<Redis, 'pipeline'>
  return { redis, lists, ttls, execs }
}

function setup (opts: { fail?: boolean, perCarPerFlush?: number, maxCars?: number } = {}) {
  const fake = fakeRedis(opts.fail)
  const registry = createRegistry('t', false)
  const log = createRejectionLog({ redis: fake.redis, source: 'broker:b1', registry, log: pino({ level: 'silent' }), flushMs: 60_000, ...opts })
  const metric = async (result: string) => (await registry.getSingleMetric('fleet_broker_rejections_logged_total')!.get()).values.find(v => v.labels.result === result)?.value ?? 0
  const refuse = (car: string, n: number) => log.add(car, { topic: `vehicles/${car}/telemetry`, reason: 'schema', detail: `/seq: #${n}`, receivedAt: Date.UTC(2026, 11, 6, 4, 0, n) })
  const list = (car: string) => (fake.lists.get(rejectionsKey(car)) ?? []).map(r => parseRejection(r)!)
  return { ...fake, log, metric, refuse, list }
}

test('rejection list: newest first, reason, detail, time, topic and source; expires; never the payload', async () => {
  const { log, refuse, list, ttls, metric } = setup()
  refuse('car-1', 1)
  refuse('car-1', 2)
  await log.flush()
  assert.deepEqual(list('car-1').map(r => r.detail), ['/seq: #2', '/seq: #1'])
  assert.deepEqual(list('car-1')[0], { at: '2026-12-06T04:00:02.000Z', topic: 'vehicles/car-1/telemetry', reason: 'schema', detail: '/seq: #2', source: 'broker:b1', dropped: 0 })
  assert.equal(ttls.get(rejectionsKey('car-1')), REJECTIONS_TTL_S)
  assert.equal(await metric('written'), 2)
})

test('rejection list: at most REJECTIONS_KEPT per car in Redis across flushes', async () => {
  const { log, refuse, list } = setup({ perCarPerFlush: 5 })
  for (let flush = 0; flush < 6; flush++) {
    for (let i = 0; i < 5; i++) refuse('car-1', flush * 5 + i)
    await log.flush()
  }
  const kept = list('car-1')
  assert.equal(kept.length, REJECTIONS_KEPT)
  assert.equal(kept[0]!.detail, '/seq: #29', 'the newest is kept first')
})

test('rejection list: a car flooding invalid messages costs a bounded write per flush; the rest is counted', async () => {
  const { log, refuse, list, execs, metric } = setup({ perCarPerFlush: 5 })
  for (let i = 0; i < 100_000; i++) refuse('hostile', i)
  await log.flush()
  assert.equal(execs.length, 1)
  assert.equal(execs[0]!.length, 3, 'LPUSH, LTRIM, EXPIRE: one car')
  assert.equal(execs[0]![0]!.length, 2 + 5, 'LPUSH of 5 entries')
  const kept = list('hostile')
  assert.equal(kept.length, 5)
  assert.equal(kept[0]!.dropped, 100_000 - 5, 'the last entry says how many were not kept')
  assert.equal(await metric('dropped'), 100_000 - 5)
})

test('rejection list: at most maxCars cars per flush; a long detail is cut', async () => {
  const { log, refuse, list, execs, metric } = setup({ maxCars: 10 })
  for (let i = 0; i < 50; i++) refuse(`car-${i}`, i)
  log.add('car-0', { topic: 't', reason: 'not_json', detail: 'x'.repeat(10_000), receivedAt: 0 })
  await log.flush()
  assert.equal(execs[0]!.length, 3 * 10)
  assert.equal(await metric('dropped'), 40)
  assert.equal(list('car-0')[0]!.detail.length, 300)
  assert.deepEqual(list('car-10'), [])
})

test('rejection list: a Redis failure is counted and logged, never thrown', async () => {
  const { log, refuse, metric } = setup({ fail: true })
  refuse('car-1', 1)
  await log.flush()
  assert.equal(await metric('failed'), 1)
  await log.close()
  refuse('car-1', 2)
  assert.equal(await metric('dropped'), 1, 'closed: nothing more is buffered')
})

test('rejection list: the flush timer writes on its own', async () => {
  const fake = fakeRedis()
  const log = createRejectionLog({ redis: fake.redis, source: 'broker:b1', registry: createRegistry('t', false), log: pino({ level: 'silent' }), flushMs: 20 })
  log.add('car-1', { topic: 't', reason: 'schema', detail: 'd', receivedAt: 0 })
  await new Promise(resolve => setTimeout(resolve, 100))
  assert.equal(fake.lists.get(rejectionsKey('car-1'))?.length, 1)
})
