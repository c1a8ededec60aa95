// The fault matrix's own Kafka and Redis (scripts/stack.sh with other ports and state directory),
// so stopping them never touches the shared stack on 19092 / 16379. As root, Kafka runs in a
// network namespace of its own behind a veth pair, which lets `tc` throttle its traffic (the
// kafka-slow scenario) without touching loopback; Redis keeps an append-only file, so a stop and
// start is a restart of a durable Redis, not a wipe. Everything here is stopped by `down()`.
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { promisify } from 'node:util'

const run = promisify(execFile)
const root = new URL('..', import.meta.url).pathname

export interface FaultStackOptions {
  dir: string
  kafkaPort: number
  kafkaControllerPort: number
  redisPort: number
  /** a loopback address for Redis (default 127.0.0.1) */
  redisHost?: string
  /** Put Kafka in a network namespace (needs root and `ip`); false keeps it on 127.0.0.1. */
  netns: boolean
}

const NS = 'fleet-faults'
const HOST_IF = 'flfault0'
const NS_IF = 'flfault1'
const HOST_ADDR = '10.213.77.1'
const NS_ADDR = '10.213.77.2'

export async function sh (cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv, allowFail?: boolean } = {}): Promise<string> {
  try {
    const { stdout } = await run(cmd, args, { cwd: root, env: opts.env ?? process.env, maxBuffer: 16 * 2 ** 20 })
    return stdout
  } catch (err) {
    if (opts.allowFail === true) return ''
    const e = err as { stderr?: string, message: string }
    throw new Error(`${cmd} ${args.join(' ')}: ${e.stderr?.trim() || e.message}`)
  }
}

/** A network namespace joined to the host by a veth pair (/30), so one server can be cut off. */
export function vethNamespace (n: { ns: string, hostIf: string, nsIf: string, hostAddr: string, nsAddr: string }) {
  async function down () {
    await sh('ip', ['link', 'del', n.hostIf], { allowFail: true })
    await sh('ip', ['netns', 'del', n.ns], { allowFail: true })
  }
  async function up () {
    await down() // a run that died left it behind: it is ours
    await sh('ip', ['netns', 'add', n.ns])
    await sh('ip', ['link', 'add', n.hostIf, 'type', 'veth', 'peer', 'name', n.nsIf])
    await sh('ip', ['link', 'set', n.nsIf, 'netns', n.ns])
    await sh('ip', ['addr', 'add', `${n.hostAddr}/30`, 'dev', n.hostIf])
    await sh('ip', ['link', 'set', n.hostIf, 'up'])
    await sh('ip', ['netns', 'exec', n.ns, 'ip', 'addr', 'add', `${n.nsAddr}/30`, 'dev', n.nsIf])
    await sh('ip', ['netns', 'exec', n.ns, 'ip', 'link', 'set', n.nsIf, 'up'])
    await sh('ip', ['netns', 'exec', n.ns, 'ip', 'link', 'set', 'lo', 'up'])
  }
  return { up, down }
}

export async function netnsAvailable (): Promise<boolean> {
  if (process.getuid?.() !== 0) return false
  try {
    await run('ip', ['netns', 'list'])
    await run('tc', ['-V'])
    return true
  } catch {
    return false
  }
}

export function createFaultStack (o: FaultStackOptions) {
  const kafkaHost = o.netns ? NS_ADDR : '127.0.0.1'
  const stackEnv: NodeJS.ProcessEnv = {
    ...process.env,
    FLEET_STACK_DIR: o.dir,
    FLEET_KAFKA_PORT: String(o.kafkaPort),
    FLEET_KAFKA_CONTROLLER_PORT: String(o.kafkaControllerPort),
    FLEET_REDIS_PORT: String(o.redisPort),
    FLEET_REDIS_HOST: o.redisHost ?? '127.0.0.1',
    FLEET_KAFKA_HOST: kafkaHost,
    FLEET_KAFKA_NETNS: o.netns ? NS : '',
    FLEET_REDIS_APPENDONLY: 'yes'
  }
  /** What every fleet process of the run needs to find this stack. */
  const serviceEnv = {
    FLEET_KAFKA_BROKERS: `${kafkaHost}:${o.kafkaPort}`,
    FLEET_REDIS_URL: `redis://${o.redisHost ?? '127.0.0.1'}:${o.redisPort}`,
    FLEET_STACK_DIR: o.dir
  }
  const stack = (...args: string[]) => sh('bash', ['scripts/stack.sh', ...args], { env: stackEnv })
  const pid = (name: 'kafka' | 'redis') => { try { return Number(readFileSync(`${o.dir}/${name}/pid`, 'utf8')) } catch { return undefined } }

  const { up: netnsUp, down: netnsDown } = vethNamespace({ ns: NS, hostIf: HOST_IF, nsIf: NS_IF, hostAddr: HOST_ADDR, nsAddr: NS_ADDR })

  return {
    kafkaHost,
    serviceEnv,
    pid,
    async up () {
      if (o.netns) await netnsUp()
      await stack('up', 'redis')
      await stack('up', 'kafka')
      await sh(process.execPath, ['--import', 'tsx', 'scripts/kafka-topics.ts'], { env: { ...process.env, ...serviceEnv } })
    },
    async down () {
      await stack('down', 'all').catch(err => console.error(`[faults] stack down: ${(err as Error).message}`))
      if (o.netns) await netnsDown()
    },
    stopKafka: () => stack('down', 'kafka'),
    startKafka: () => stack('up', 'kafka'),
    stopRedis: () => stack('down', 'redis'),
    startRedis: () => stack('up', 'redis'),
    /**
     * Throttles the link to Kafka in both directions with a token bucket (netem is not in this
     * kernel; tbf is). Produce requests queue in the kernel and then in the broker's client.
     */
    async throttleKafka (rateKbit: number) {
      if (!o.netns) throw new Error('throttling Kafka needs its network namespace (root, ip, tc)')
      const tbf = ['root', 'tbf', 'rate', `${rateKbit}kbit`, 'burst', '16kb', 'latency', '2s']
      await sh('tc', ['qdisc', 'replace', 'dev', HOST_IF, ...tbf])
      await sh('ip', ['netns', 'exec', NS, 'tc', 'qdisc', 'replace', 'dev', NS_IF, ...tbf])
    },
    async unthrottleKafka () {
      if (!o.netns) return
      await sh('tc', ['qdisc', 'del', 'dev', HOST_IF, 'root'], { allowFail: true })
      await sh('ip', ['netns', 'exec', NS, 'tc', 'qdisc', 'del', 'dev', NS_IF, 'root'], { allowFail: true })
    }
  }
}

export type FaultStack = ReturnType<typeof createFaultStack>
