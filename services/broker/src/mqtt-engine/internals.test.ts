import assert from 'node:assert/strict'
import { Duplex } from 'node:stream'
import { test } from 'node:test'
import { Aedes } from 'aedes'
import { createMqttEngine, createLocalSessions, MissingInternalError, type MqttEngineOptions } from './index.js'
import { checkClientInternals, checkRedisEmitterInternals } from './internals.js'

const allow = (_c: unknown, _p: unknown, done: (err: null, ok: boolean) => void) => done(null, true)
const options = (sessions = createLocalSessions()): MqttEngineOptions => ({
  id: 'internals-test',
  heartbeatMs: 60_000,
  connectTimeoutMs: 1_000,
  maxQos2Pending: 16,
  onQos2Full: () => {},
  slowClientTimeoutMs: 1_000,
  maxPacketBytes: 1_024,
  sessions,
  hooks: {
    preConnect: allow as never,
    authenticate: (_c, _u, _p, done) => done(null, true),
    authorizePublish: (_c, _p, done) => done(null),
    authorizeSubscribe: (_c, sub, done) => done(null, sub),
    authorizeForward: (_c, p) => p
  },
  endsHere: () => false,
  onPacketTooLarge: () => {},
  mqtt5: { receiveMaximum: 64, sessionExpiryMaxS: 3_600, topicAliasMaximum: 16, serverKeepAliveS: 600 }
})

const silent = () => new Duplex({ read () {}, write (_c, _e, cb) { cb() } })

test('the pinned aedes has every internal the engine relies on: start() passes', async () => {
  const engine = createMqttEngine(options())
  await engine.start()
  assert.ok(await engine.close(1_000))
})

test('a Client without one of them fails the check, naming it', async () => {
  const aedes = new Aedes()
  const stream = silent()
  const client = aedes.handle(stream) as unknown as Record<string, unknown>
  checkClientInternals(client)
  for (const name of ['_nextBatch', '_parsingBatch', '_will', '_keepaliveTimer']) {
    const saved = client[name]
    delete client[name]
    assert.throws(() => checkClientInternals(client), (err: Error) => err instanceof MissingInternalError && err.message.includes(`Client.${name}`), name)
    client[name] = saved
  }
  const parser = client._parser as Record<string, unknown>
  const list = parser._list
  delete parser._list
  assert.throws(() => checkClientInternals(client), /Parser\._list/)
  parser._list = list
  stream.destroy()
  await new Promise<void>(resolve => aedes.close(() => resolve()))
})

test('start() refuses a persistence without a method the session rules wrap, naming it', async () => {
  const local = createLocalSessions()
  const engine = createMqttEngine(options({ ...local, persistence: { delWill: async () => {} } }))
  await assert.rejects(engine.start(), (err: Error) => err instanceof MissingInternalError && /persistence\.addSubscriptions/.test(err.message))
})

test('an emitter without mqemitter-redis\' connections fails its check, naming them', () => {
  assert.throws(() => checkRedisEmitterInternals({ subConn: { on () {}, disconnect () {} }, state: { on () {} } }), /MQEmitterRedis\.pubConn/)
})
