// The fault matrix on the replicated topology (`npm run faults -- --topology replicated`): a Kafka
// leader killed, two of three Kafka nodes down, the Redis master killed (Sentinel failover), one
// Kafka node cut off by a network partition. Each says when it began and ended and what it saw of
// the backends; loadtest/fault-harness.ts measures what the cars and operators saw.
import { createRedis } from '../services/shared/src/redis-connection.js'
import { sleep, type FaultTimes, type Harness, type ScenarioSpec } from './fault-harness.js'
import { isReplicated, SENTINEL_NAME, type ReplicatedFaultStack } from './fault-stack-replicated.js'

const env = (k: string, d: number) => Number(process.env[k] ?? d)
const OUTAGE_S = env('OUTAGE_S', 30)
const round1 = (x: number) => Math.round(x * 10) / 10

function replicated (h: Harness): ReplicatedFaultStack {
  if (!isReplicated(h.stack)) throw new Error('this scenario needs the replicated stack (--topology replicated)')
  return h.stack
}

/** The node leading most of vehicle.telemetry's partitions, and how many it leads. */
async function busiestNode (st: ReplicatedFaultStack): Promise<{ node: number, leads: number }> {
  const { byNode } = await st.telemetryLeaders()
  const [node, leads] = Object.entries(byNode).sort((a, b) => b[1] - a[1])[0]!
  return { node: Number(node), leads }
}

/** Seconds from `from` until no partition of vehicle.telemetry is led by `node` or leaderless. */
async function leadersMoved (h: Harness, st: ReplicatedFaultStack, node: number, from: number, timeoutS = 90): Promise<number | null> {
  const deadline = performance.now() + timeoutS * 1_000
  while (performance.now() < deadline) {
    const l = await st.telemetryLeaders().catch(() => null)
    if (l !== null && (l.byNode[node] ?? 0) === 0 && l.leaderless === 0) return round1(h.now() - from)
    await sleep(250)
  }
  return null
}

/**
 * Sequential acknowledged Redis writes through the Sentinels (the services' connection options);
 * afterwards, read straight from the new master, which acknowledged writes it lacks.
 */
function startMarkerWrites (st: ReplicatedFaultStack, tag: string) {
  const redis = createRedis({ redisUrl: st.serviceEnv.FLEET_REDIS_URL, redisSentinels: st.sentinels, redisSentinelName: SENTINEL_NAME }, { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 3_000 })
  redis.on('error', () => {})
  const acked: Array<{ i: number, at: number }> = []
  let failed = 0
  let running = true
  const loop = (async () => {
    for (let i = 0; running; i++) {
      try {
        await redis.set(`faults:marker:${tag}:${i}`, '1', 'EX', 3_600)
        acked.push({ i, at: performance.now() })
      } catch {
        failed++
        await sleep(20)
      }
      await sleep(2)
    }
  })()
  return {
    async stop (killedAt: number, masterPort: number) {
      running = false
      await loop
      redis.disconnect()
      const master = createRedis({ redisUrl: `redis://${st.redisHost}:${masterPort}` }, { maxRetriesPerRequest: 3 })
      const missing = new Set<number>()
      try {
        for (let k = 0; k < acked.length; k += 1_000) {
          const chunk = acked.slice(k, k + 1_000)
          const found = await master.pipeline(chunk.map(a => ['exists', `faults:marker:${tag}:${a.i}`])).exec()
          chunk.forEach((a, j) => { if (found?.[j]?.[1] !== 1) missing.add(a.i) })
        }
      } finally {
        master.disconnect()
      }
      const lost = acked.filter(a => missing.has(a.i))
      const firstAfter = acked.find(a => a.at > killedAt)
      return {
        acked: acked.length,
        ackedBeforeKill: acked.filter(a => a.at <= killedAt).length,
        failedWhileAway: failed,
        resumedAfterS: firstAfter === undefined ? null : round1((firstAfter.at - killedAt) / 1_000),
        lost: lost.length,
        lostAckedWithinMsBeforeKill: lost.length === 0 ? null : Math.round(killedAt - Math.min(...lost.map(a => a.at)))
      }
    }
  }
}

/** Seconds from `from` until every broker's /readyz says its Redis connection is back. */
async function brokersRedisBack (h: Harness, from: number, timeoutS = 60): Promise<number | null> {
  const deadline = performance.now() + timeoutS * 1_000
  while (performance.now() < deadline) {
    const ok = await Promise.all(h.sys.brokers.map(async b => {
      const res = await fetch(`http://127.0.0.1:${b.opsPort}/readyz`).catch(() => null)
      const body = await res?.json().catch(() => null) as { dependencies?: { redis?: boolean } } | null
      return body?.dependencies?.redis === true
    }))
    if (ok.every(Boolean)) return round1(h.now() - from)
    await sleep(250)
  }
  return null
}

/** Counts keys matching a pattern on the Redis at `port`. */
async function countKeys (host: string, port: number, pattern: string): Promise<number> {
  const redis = createRedis({ redisUrl: `redis://${host}:${port}` }, { maxRetriesPerRequest: 1 })
  try {
    let n = 0
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 5_000)
      cursor = next
      n += keys.length
    } while (cursor !== '0')
    return n
  } finally {
    redis.disconnect()
  }
}

export const replicatedScenarios: ScenarioSpec[] = [
  {
    name: 'kafka-leader-kill',
    title: 'Kafka node leading most telemetry partitions SIGKILLed (replication 3, min ISR 2); restarted after 30 s',
    async inject (h): Promise<FaultTimes> {
      const st = replicated(h)
      const { node, leads } = await busiestNode(st)
      const injectedAt = h.now()
      st.killKafkaNode(node)
      h.log(`killed Kafka node ${node} (leader of ${leads} telemetry partitions)`)
      const movedS = await leadersMoved(h, st, node, injectedAt)
      await sleep(Math.max(0, (injectedAt + OUTAGE_S - h.now()) * 1_000))
      const restartAt = h.now()
      await st.startKafkaNode(node)
      return { injectedAt, endedAt: injectedAt, notes: { node, ledTelemetryPartitions: leads, leadersMovedAfterS: movedS, restartedAfterS: round1(restartAt - injectedAt), restartTookS: round1(h.now() - restartAt) } }
    }
  },
  {
    name: 'kafka-two-down',
    title: `Two of three Kafka nodes SIGKILLed for ${OUTAGE_S} s, then started`,
    async inject (h): Promise<FaultTimes> {
      const st = replicated(h)
      const { node } = await busiestNode(st)
      const other = [1, 2, 3].find(n => n !== node)!
      const injectedAt = h.now()
      st.killKafkaNode(node)
      st.killKafkaNode(other)
      await sleep(OUTAGE_S * 1_000)
      const restartAt = h.now()
      await Promise.all([st.startKafkaNode(node), st.startKafkaNode(other)])
      const endedAt = h.now()
      const movedS = await leadersMoved(h, st, -1, endedAt, 60)
      return { injectedAt, endedAt, notes: { nodes: [node, other], downS: round1(restartAt - injectedAt), startTookS: round1(endedAt - restartAt), allPartitionsLedAfterS: movedS } }
    }
  },
  {
    name: 'redis-master-kill',
    title: 'Redis master SIGKILLed (Sentinel promotes the replica; the old master rejoins as a replica after 30 s)',
    async inject (h): Promise<FaultTimes> {
      const st = replicated(h)
      const oldPort = (await st.masterPort())!
      const sessionsBefore = await countKeys(st.redisHost, oldPort, `client:${h.load.prefix}*`)
      const commandsBefore = await countKeys(st.redisHost, oldPort, 'fleet:command:*')
      const markers = startMarkerWrites(st, h.load.prefix)
      await sleep(3_000)
      const injectedAt = h.now()
      const killedAt = performance.now()
      await st.killRedisMaster()
      let newPort: number | null = oldPort
      const deadline = performance.now() + 60_000
      while ((newPort === oldPort || newPort === null) && performance.now() < deadline) {
        await sleep(100)
        newPort = await st.masterPort()
      }
      if (newPort === oldPort || newPort === null) throw new Error('no failover within 60 s')
      const failoverS = round1(h.now() - injectedAt)
      h.log(`Sentinel named the new master (port ${newPort}) ${failoverS} s after the kill`)
      const brokersBackS = await brokersRedisBack(h, injectedAt)
      const sessionsAfter = await countKeys(st.redisHost, newPort, `client:${h.load.prefix}*`)
      const commandsAfter = await countKeys(st.redisHost, newPort, 'fleet:command:*')
      await sleep(Math.max(0, (injectedAt + OUTAGE_S - h.now()) * 1_000))
      await st.startRedisNode(oldPort)
      const writes = await markers.stop(killedAt, newPort)
      return { injectedAt, endedAt: injectedAt + failoverS, notes: { failoverS, brokersRedisBackAfterS: brokersBackS, sessionsBefore, sessionsAfter, commandRecordsBefore: commandsBefore, commandRecordsAfter: commandsAfter, markerWrites: writes } }
    }
  },
  {
    name: 'kafka-partition',
    title: `One Kafka node cut off by a network partition for ${OUTAGE_S} s (its link down in its namespace)`,
    async inject (h): Promise<FaultTimes> {
      const st = replicated(h)
      const before = await st.telemetryLeaders()
      const injectedAt = h.now()
      await st.partitionNode3()
      const movedS = await leadersMoved(h, st, 3, injectedAt, OUTAGE_S)
      await sleep(Math.max(0, (injectedAt + OUTAGE_S - h.now()) * 1_000))
      await st.healNode3()
      return { injectedAt, endedAt: h.now(), notes: { node: 3, ledTelemetryPartitions: before.byNode[3] ?? 0, leadersMovedAfterS: movedS } }
    }
  }
]
