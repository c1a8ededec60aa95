// The command line of scripts/tail-topic.ts, parsed without side effects (so it is unit-tested).
import { isVehicleId, KafkaTopics } from '../services/shared/src/topics.js'

export const TAIL_USAGE = `usage: npm run tail -- <topic> [--vehicle ID] [--from-beginning] [--max N]
  <topic>            one of: ${Object.values(KafkaTopics).join(', ')}
  --vehicle ID       only records whose key is this car's id
  --from-beginning   start at the oldest record kept (default: only records from now on)
  --max N            exit after printing N records (default: run until Ctrl-C)
Prints one JSON line per record: topic, partition, offset, timestamp, key, headers, value.`

export interface TailArgs { topic: string, vehicleId: string | null, fromBeginning: boolean, max: number | null }

export type TailArgsResult = { ok: true, args: TailArgs } | { ok: false, help: boolean, error: string }

const fail = (error: string): TailArgsResult => ({ ok: false, help: false, error })

export function parseTailArgs (argv: readonly string[]): TailArgsResult {
  let topic: string | null = null
  let vehicleId: string | null = null
  let fromBeginning = false
  let max: number | null = null
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    const [flag, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined]
    const value = () => inline ?? argv[++i]
    switch (flag) {
      case '-h':
      case '--help':
        return { ok: false, help: true, error: '' }
      case '--from-beginning':
        if (inline !== undefined) return fail('--from-beginning takes no value')
        fromBeginning = true
        break
      case '--vehicle': {
        const v = value()
        if (v === undefined || !isVehicleId(v)) return fail(`--vehicle needs a vehicle id (letters, digits, . _ -; at most 64), got ${v === undefined ? 'nothing' : JSON.stringify(v.slice(0, 80))}`)
        vehicleId = v
        break
      }
      case '--max': {
        const v = value()
        if (v === undefined || !/^[1-9][0-9]{0,8}$/.test(v)) return fail(`--max needs a whole number from 1, got ${v === undefined ? 'nothing' : JSON.stringify(v.slice(0, 80))}`)
        max = Number(v)
        break
      }
      default:
        if (a.startsWith('-')) return fail(`unknown option ${a.slice(0, 80)}`)
        if (topic !== null) return fail(`one topic only (got ${topic} and ${a.slice(0, 80)})`)
        if (!(Object.values(KafkaTopics) as string[]).includes(a)) return fail(`${a.slice(0, 80)} is not a fleet topic`)
        topic = a
    }
  }
  if (topic === null) return fail('which topic?')
  return { ok: true, args: { topic, vehicleId, fromBeginning, max } }
}
