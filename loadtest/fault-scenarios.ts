// The fault matrix: each scenario injects one fault into the running system (loadtest/faults.ts
// runs them under load through loadtest/fault-harness.ts) and says when it began and ended.
import { metricValue } from '../test/helpers/broker-process.js'
import { sleep, type FaultTimes, type Harness, type ScenarioSpec } from './fault-harness.js'

const env = (k: string, d: number) => Number(process.env[k] ?? d)
const OUTAGE_S = env('OUTAGE_S', 30)
const SLOW_S = env('SLOW_S', 90)
const SLOW_KBIT = env('SLOW_KBIT', 1_000)
const ROLL_PAUSE_S = env('ROLL_PAUSE_S', 10)

/** A dependency stopped for OUTAGE_S and started again. */
function outage (stop: (h: Harness) => Promise<unknown>, start: (h: Harness) => Promise<unknown>) {
  return async (h: Harness): Promise<FaultTimes> => {
    const injectedAt = h.now()
    await stop(h)
    const down = h.now()
    await sleep(OUTAGE_S * 1_000)
    const restart = h.now()
    await start(h)
    const endedAt = h.now()
    return { injectedAt, endedAt, notes: { stoppedAfterS: Math.round((down - injectedAt) * 10) / 10, downS: Math.round((restart - down) * 10) / 10, startTookS: Math.round((endedAt - restart) * 10) / 10 } }
  }
}

/** Broker 1 ends (SIGKILL or SIGTERM): its cars move, and the vehicle.commands partitions it consumed go to
 *  the others; its cars' commands are sent meanwhile, so they queue in their sessions. */
function brokerEnds (signal: 'SIGKILL' | 'SIGTERM') {
  return async (h: Harness): Promise<FaultTimes> => {
    const victim = h.sys.brokers[1]!
    const cars = h.carsOnBroker(1, 50)
    const injectedAt = h.now()
    const exit = victim.kill(signal)
    // Sent while the cars of the ended broker are away or moving: they wait in the cars' sessions.
    const burst = Promise.all(cars.map(c => h.commands.send(c, 'queued')))
    const code = await exit
    const exitedAt = h.now()
    await burst
    return { injectedAt, endedAt: injectedAt, notes: { signal, exitCode: code, exitedAfterS: Math.round((exitedAt - injectedAt) * 10) / 10, queuedCommandsTo: cars.length } }
  }
}

export const scenarios: ScenarioSpec[] = [
  {
    name: 'kafka-stop',
    title: `Kafka stopped for ${OUTAGE_S} s, then started`,
    inject: outage(h => h.stack.stopKafka(), h => h.stack.startKafka())
  },
  {
    name: 'redis-stop',
    title: `Redis stopped for ${OUTAGE_S} s, then started (append-only file: a restart, not a wipe)`,
    inject: outage(h => h.stack.stopRedis(), h => h.stack.startRedis())
  },
  {
    name: 'broker-kill',
    title: 'One broker process killed with SIGKILL',
    inject: brokerEnds('SIGKILL')
  },
  {
    name: 'broker-drain',
    title: 'One broker process drained with SIGTERM',
    inject: brokerEnds('SIGTERM')
  },
  {
    name: 'brokers-rolling',
    title: `Every broker process replaced in turn (SIGTERM drain, a new process on its port, ${ROLL_PAUSE_S} s before the next), as a rolling update does`,
    async inject (h) {
      const injectedAt = h.now()
      const steps: Array<{ exitCode: number | null, drainedS: number, readyS: number }> = []
      for (let i = 0; i < h.sys.brokers.length; i++) {
        // commands to the cars of the pod that goes: they wait in their sessions while the cars move
        const burst = Promise.all(h.carsOnBroker(i, 20).map(c => h.commands.send(c, 'queued')))
        steps.push(await h.sys.replaceBroker(i))
        await burst
        // like the chart's minReadySeconds: the cars settle before the next pod goes
        await sleep(ROLL_PAUSE_S * 1_000)
      }
      return { injectedAt, endedAt: h.now(), notes: { replaced: steps.length, exitCodes: steps.map(s => s.exitCode).join(' '), drainedS: steps.map(s => s.drainedS).join(' '), readyS: steps.map(s => s.readyS).join(' ') } }
    }
  },
  {
    name: 'scorer-kill',
    title: 'One of two scorer processes killed with SIGKILL mid-batch',
    scorers: 2,
    async inject (h) {
      const victim = h.sys.scorers[0]!
      // Mid-batch: wait until it is scoring (its batch counter moves), then kill at once.
      const batches = async () => metricValue(await victim.metrics(), 'fleet_scorer_batch_seconds_count')
      const b0 = await batches()
      while (await batches() === b0) await sleep(5)
      const injectedAt = h.now()
      await victim.kill('SIGKILL')
      return { injectedAt, endedAt: injectedAt, notes: { killed: victim.name } }
    }
  },
  {
    name: 'broker-join',
    title: 'A broker process joins while commands are routed (the vehicle.commands group rebalances)',
    async inject (h) {
      // A burst of commands across the fleet, and the new pod as soon as the pods route it.
      const routed = async () => (await Promise.all(h.sys.brokers.map(async b => metricValue(await b.metrics(), 'fleet_broker_commands_published_total')))).reduce((a, b) => a + b, 0)
      const r0 = await routed()
      const cars = Array.from({ length: 400 }, (_, k) => h.load.carId(Math.floor(k * h.o.cars / 400)))
      const burst = Promise.all(cars.map(c => h.commands.send(c, 'burst')))
      const deadline = performance.now() + 10_000
      while (await routed() === r0 && performance.now() < deadline) await sleep(5)
      const injectedAt = h.now()
      const joined = await h.sys.addBroker()
      const endedAt = h.now()
      await burst
      return { injectedAt, endedAt, notes: { joined: joined.id, burst: cars.length, startTookS: Math.round((endedAt - injectedAt) * 10) / 10 } }
    }
  },
  {
    name: 'commander-kill',
    title: 'One of two commander processes killed with SIGKILL while projecting command events',
    commanders: 2,
    async inject (h) {
      const victim = h.sys.commanders[0]!
      // While projecting: a burst of commands, and the kill as soon as the victim has applied some of their events.
      const applied = async () => metricValue(await victim.metrics(), 'fleet_commander_events_total')
      const a0 = await applied()
      const cars = Array.from({ length: 400 }, (_, k) => h.load.carId(Math.floor(k * h.o.cars / 400)))
      const burst = Promise.all(cars.map(c => h.commands.send(c, 'burst')))
      const deadline = performance.now() + 10_000
      while (await applied() === a0 && performance.now() < deadline) await sleep(5)
      const injectedAt = h.now()
      const appliedBeforeKill = await applied() - a0
      await victim.kill('SIGKILL')
      await burst
      return { injectedAt, endedAt: injectedAt, notes: { killed: victim.name, burst: cars.length, victimAppliedEvents: appliedBeforeKill } }
    }
  },
  {
    name: 'kafka-slow',
    title: `Kafka's link throttled to ${SLOW_KBIT} kbit/s for ${SLOW_S} s (tc tbf in its network namespace)`,
    async inject (h) {
      const injectedAt = h.now()
      await h.stack.throttleKafka(SLOW_KBIT)
      await sleep(SLOW_S * 1_000)
      await h.stack.unthrottleKafka()
      return { injectedAt, endedAt: h.now(), notes: { rateKbit: SLOW_KBIT, slowS: SLOW_S } }
    }
  }
]
