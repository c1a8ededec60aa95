// The fault matrix's replicated stack (scripts/stack.sh --replicated with its own ports and state):
// three KRaft nodes with topics at replication 3 / min.insync.replicas=2, Redis master + replica
// + three Sentinels. As root, Kafka node 3 runs in a network namespace behind a veth pair and
// nodes 1 and 2 listen on the host end of it, so cutting that link partitions node 3 from the
// other nodes and from every client at once. Offers what loadtest/fault-stack.ts offers, plus
// single-node kills, the Redis master's kill and the partition. `down()` stops all of it.
import { readFileSync } from 'node:fs'
import { KafkaTopics } from '../services/shared/src/topics.js'
import { withAdmin } from './fault-evidence.js'
import { sh, vethNamespace, type FaultStack } from './fault-stack.js'

export interface ReplicatedStackOptions {
  dir: string
  /** node N listens on kafkaPort + 10 × (N − 1), its controller on that + 1 */
  kafkaPort: number
  /** master; replica on + 1; Sentinels on + 2 … + 4 */
  redisPort: number
  /** a loopback address for Redis and the Sentinels (default 127.0.0.1) */
  redisHost?: string
  netns: boolean
}

const NS = 'fleet-faults-rep'
const HOST_IF = 'flrep0'
const NS_IF = 'flrep1'
const HOST_ADDR = '10.213.78.1'
const NS_ADDR = '10.213.78.2'
export const SENTINEL_NAME = 'fleet'

export function createReplicatedFaultStack (o: ReplicatedStackOptions) {
  const redisHost = o.redisHost ?? '127.0.0.1'
  const hosts = o.netns ? [HOST_ADDR, HOST_ADDR, NS_ADDR] : ['127.0.0.1', '127.0.0.1', '127.0.0.1']
  const stackEnv: NodeJS.ProcessEnv = {
    ...process.env,
    FLEET_STACK_TOPOLOGY: 'replicated',
    FLEET_STACK_DIR: o.dir,
    FLEET_KAFKA_PORT: String(o.kafkaPort),
    FLEET_KAFKA_CONTROLLER_PORT: String(o.kafkaPort + 1),
    FLEET_KAFKA_SASL: '0',
    FLEET_KAFKA_HOSTS: hosts.join(','),
    FLEET_KAFKA_NETNS: o.netns ? NS : '',
    FLEET_KAFKA_NETNS_NODE: '3',
    FLEET_REDIS_PORT: String(o.redisPort),
    FLEET_REDIS_HOST: redisHost,
    FLEET_REDIS_APPENDONLY: 'yes',
    FLEET_REDIS_SENTINEL_NAME: SENTINEL_NAME
  }
  const sentinels = [2, 3, 4].map(i => `${redisHost}:${o.redisPort + i}`)
  /** What every fleet process of the run needs to find this stack. */
  const serviceEnv = {
    FLEET_KAFKA_BROKERS: hosts.map((h, i) => `${h}:${o.kafkaPort + 10 * i}`).join(','),
    FLEET_REDIS_URL: `redis://${redisHost}:${o.redisPort}`,
    FLEET_REDIS_SENTINELS: sentinels.join(','),
    FLEET_REDIS_SENTINEL_NAME: SENTINEL_NAME,
    FLEET_STACK_DIR: o.dir
  }
  const stack = (...args: string[]) => sh('bash', ['scripts/stack.sh', ...args], { env: stackEnv })
  const pidFile = (name: string) => { try { return Number(readFileSync(`${o.dir}/${name}/pid`, 'utf8')) } catch { return undefined } }
  const alive = (pid: number | undefined) => { try { return pid !== undefined && process.kill(pid, 0) } catch { return false } }
  const redisDir = (port: number) => port === o.redisPort ? 'redis' : 'redis-2'

  const { up: netnsUp, down: netnsDown } = vethNamespace({ ns: NS, hostIf: HOST_IF, nsIf: NS_IF, hostAddr: HOST_ADDR, nsAddr: NS_ADDR })

  /** The port of the master the Sentinels name now. */
  async function masterPort (): Promise<number | null> {
    for (const s of sentinels) {
      const out = await sh('redis-cli', ['-h', redisHost, '-p', s.split(':')[1]!, 'sentinel', 'get-master-addr-by-name', SENTINEL_NAME], { allowFail: true })
      const port = Number(out.split('\n')[1])
      if (port > 0) return port
    }
    return null
  }

  const base: FaultStack = {
    kafkaHost: hosts[0]!,
    serviceEnv: serviceEnv as unknown as FaultStack['serviceEnv'],
    // the harness samples one Kafka process's CPU: node 1's, or the first alive
    pid: (name: 'kafka' | 'redis') => name === 'redis' ? pidFile('redis') : [1, 2, 3].map(n => pidFile(`kafka-${n}`)).find(alive),
    async up () {
      if (o.netns) await netnsUp()
      await stack('up', 'redis')
      await stack('up', 'kafka')
      await sh(process.execPath, ['--import', 'tsx', 'scripts/kafka-topics.ts'], { env: { ...process.env, ...serviceEnv, FLEET_KAFKA_TOPIC_REPLICATION: '3', FLEET_KAFKA_TOPIC_MIN_ISR: '2' } })
    },
    async down () {
      await stack('down', 'all').catch(err => console.error(`[faults] stack down: ${(err as Error).message}`))
      if (o.netns) await netnsDown()
    },
    stopKafka: () => stack('down', 'kafka'),
    startKafka: () => stack('up', 'kafka'),
    stopRedis: () => stack('down', 'redis'),
    startRedis: () => stack('up', 'redis'),
    throttleKafka: async () => { throw new Error('not on the replicated stack') },
    unthrottleKafka: async () => {}
  }
  return {
    ...base,
    replicated: true as const,
    redisHost,
    sentinels,
    masterPort,
    /** SIGKILL of Kafka node n (1–3). */
    killKafkaNode (n: number) {
      const pid = pidFile(`kafka-${n}`)
      if (pid === undefined) throw new Error(`kafka node ${n} has no pid`)
      process.kill(pid, 'SIGKILL')
    },
    startKafkaNode: (n: number) => stack('up', `kafka-${n}`),
    /** Partitions of vehicle.telemetry each node leads now (node id → count), and leaderless ones. */
    async telemetryLeaders (): Promise<{ byNode: Record<number, number>, leaderless: number, underMinIsr: number }> {
      const meta = await withAdmin(admin => admin.fetchTopicMetadata({ topics: [KafkaTopics.telemetry] }))
      const byNode: Record<number, number> = {}
      let leaderless = 0
      let underMinIsr = 0
      for (const p of meta.topics[0]!.partitions) {
        if (p.leader < 0) leaderless++
        else byNode[p.leader] = (byNode[p.leader] ?? 0) + 1
        if (p.isr.length < 2) underMinIsr++
      }
      return { byNode, leaderless, underMinIsr }
    },
    /** SIGKILL of the Redis master the Sentinels name; its port. */
    async killRedisMaster (): Promise<number> {
      const port = await masterPort()
      if (port === null) throw new Error('no Sentinel names a master')
      const pid = pidFile(redisDir(port))
      if (pid === undefined) throw new Error(`no pid for the Redis on ${port}`)
      process.kill(pid, 'SIGKILL')
      return port
    },
    startRedisNode: (port: number) => stack('up', port === o.redisPort ? 'redis-1' : 'redis-2'),
    /**
     * Cuts node 3's link from its own side: no packet between it and the other nodes or any
     * client. (Setting the host's end down would also drop the host address nodes 1 and 2 use.)
     */
    async partitionNode3 () {
      if (!o.netns) throw new Error('a partition needs node 3 in its network namespace (root, ip)')
      await sh('ip', ['netns', 'exec', NS, 'ip', 'link', 'set', NS_IF, 'down'])
    },
    async healNode3 () {
      if (!o.netns) return
      await sh('ip', ['netns', 'exec', NS, 'ip', 'link', 'set', NS_IF, 'up'])
    }
  }
}

export type ReplicatedFaultStack = ReturnType<typeof createReplicatedFaultStack>
export const isReplicated = (s: FaultStack): s is ReplicatedFaultStack => (s as Partial<ReplicatedFaultStack>).replicated === true
