// A simulated car refused at CONNECT (CONNACK 3: the broker's credential store is away) keeps
// trying and gets in once the broker accepts it again, with either car client. mqtt.js stops
// for good after a CONNACK refusal unless told otherwise; a real car must not.
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:net'
import { after, test } from 'node:test'
import { Aedes } from 'aedes'
import { pino } from 'pino'
import { createSimulator } from './index.js'
import { loadSimulatorConfig } from './simulator-config.js'

const servers: Server[] = []
const brokers: Aedes[] = []
after(async () => {
  for (const s of servers) s.close()
  for (const b of brokers) await new Promise(resolve => b.close(() => resolve(null)))
})

for (const client of ['lean', 'mqttjs'] as const) {
  test(`${client}: a car refused with CONNACK 3 reconnects when the broker takes it again`, async () => {
    let attempts = 0
    const aedes = await Aedes.createBroker({
      authenticate: (_c, _u, _p, done) => {
        attempts++
        if (attempts <= 2) done(Object.assign(new Error('server unavailable'), { returnCode: 3 }) as never, false)
        else done(null, true)
      }
    })
    const server = createServer(aedes.handle)
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    servers.push(server)
    brokers.push(aedes)
    const port = (server.address() as { port: number }).port
    const sim = createSimulator(loadSimulatorConfig({
      // the simulator provisions its car in the suite's Redis (this aedes takes any password)
      FLEET_DEV_MODE: '1',
      ...(process.env.FLEET_REDIS_URL === undefined ? {} : { FLEET_REDIS_URL: process.env.FLEET_REDIS_URL }),
      FLEET_SIM_MQTT_URL: `mqtt://127.0.0.1:${port}`,
      FLEET_SIM_CARS: '1',
      FLEET_SIM_CLIENT: client,
      FLEET_SIM_INTERVAL_MS: '60000',
      FLEET_SIM_ID_PREFIX: `refused-${client}`
    }), { log: pino({ level: 'silent' }) })
    await sim.start()
    try {
      const deadline = Date.now() + 20_000
      while (sim.stats.connected < 1 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 100))
      assert.equal(sim.stats.connected, 1, `connected after ${attempts} attempts`)
      assert.equal(attempts, 3)
      assert.ok(sim.stats.errors >= 2, 'each refusal is counted')
    } finally {
      await sim.stop()
    }
  })
}
