import assert from 'node:assert/strict'
import { test } from 'node:test'
import Fastify from 'fastify'
import { ApiProblem } from '../problem.js'
import { installProblems } from './problems.js'

async function app () {
  const a = Fastify({ logger: false })
  installProblems(a)
  a.get('/problem', async () => { throw new ApiProblem(409, 'vehicle_revoked', 'car-1 is revoked', { commandId: 'c1' }) })
  a.get('/unauthorized', async () => { throw new ApiProblem(401, 'unauthorized', 'credentials required') })
  a.get('/bug', async () => { throw new Error('secret internals: password=hunter2') })
  a.get('/redis-down', async () => { throw new Error('Connection is closed.') })
  a.get('/kafka-down', async () => { throw Object.assign(new Error('broker gone'), { name: 'KafkaJSConnectionError' }) })
  a.get('/typed', { schema: { querystring: { type: 'object', properties: { n: { type: 'integer' } } } } }, async () => ({}))
  return a
}

test('errors become problem+json once: ours, validation, bugs (details hidden), unreachable dependencies (503)', async t => {
  const a = await app()
  t.after(() => a.close())
  const get = async (url: string) => {
    const res = await a.inject({ method: 'GET', url })
    assert.match(String(res.headers['content-type']), /^application\/problem\+json/)
    return { status: res.statusCode, body: res.json(), headers: res.headers }
  }
  const p = await get('/problem')
  assert.equal(p.status, 409)
  assert.equal(p.body.code, 'vehicle_revoked')
  assert.equal(p.body.commandId, 'c1')
  assert.equal(p.body.type, 'urn:fleet:problem:vehicle_revoked')
  assert.equal(p.body.instance, '/problem')
  assert.match(String((await get('/unauthorized')).headers['www-authenticate']), /^Basic/)
  const bug = await get('/bug')
  assert.equal(bug.status, 500)
  assert.ok(!JSON.stringify(bug.body).includes('hunter2'))
  for (const url of ['/redis-down', '/kafka-down']) {
    const r = await get(url)
    assert.equal(r.status, 503, url)
    assert.equal(r.body.code, 'unavailable')
    assert.equal(r.headers['retry-after'], '5')
  }
  const v = await get('/typed?n=abc')
  assert.equal(v.status, 400)
  assert.deepEqual(v.body.errors, [{ path: 'querystring/n', message: 'must be integer' }])
  const nf = await get('/nowhere?x=1')
  assert.equal(nf.status, 404)
  assert.equal(nf.body.instance, '/nowhere')
})
