// Rewrites docs/faults.md's fault-matrix table (between the faults markers) from the last runs in
// results/faults.json (npm run faults). `npm run docs:faults`; `npm run docs:faults -- --topology
// replicated` rewrites the replicated topology's table (faults-replicated markers) from
// results/faults-replicated.json.
import { readFileSync, writeFileSync } from 'node:fs'
import { topicPartitions } from '../services/shared/src/topics.js'

const root = new URL('..', import.meta.url).pathname
const replicated = process.argv.includes('replicated') || process.env.FAULTS_TOPOLOGY === 'replicated'
const file = process.env.OUT ?? (replicated ? 'results/faults-replicated.json' : 'results/faults.json')
const marker = replicated ? 'faults-replicated' : 'faults'
const order = replicated
  ? ['kafka-leader-kill', 'kafka-two-down', 'redis-master-kill', 'kafka-partition']
  : ['kafka-stop', 'redis-stop', 'broker-kill', 'broker-drain', 'broker-join', 'scorer-kill', 'commander-kill', 'kafka-slow', 'dlq-flood']

type Run = Record<string, any>
const runs = (JSON.parse(readFileSync(`${root}${file}`, 'utf8')) as { runs: Record<string, Run> }).runs
const s = (x: number | null | undefined, unit = '') => x === null || x === undefined ? 'n/a' : `${x.toLocaleString('en-US')}${unit}`
const ms = (x: number | null | undefined) => x === null || x === undefined ? 'n/a' : x >= 1_000 ? `${(x / 1_000).toFixed(1)} s` : `${Math.round(x)} ms`

function row (name: string, r: Run): string {
  if (r.error !== undefined) return `| ${r.title ?? name} | **failed to run**: ${r.error} | | | | | |`
  if (r.notRun !== undefined) return `| ${name} | not run: ${r.notRun} | | | | | |`
  if (r.phases !== undefined) {
    const [clean, flood] = r.phases as Run[]
    return `| ${r.title} | ${s(flood!.telemetry.ackedLost)} of ${s(flood!.telemetry.acked)} valid | ${s(flood!.telemetry.duplicates)} | n/a (no outage) | — | ${s(flood!.invalidAcked)} invalid messages acknowledged, ${s(flood!.dlqRecords)} in the DLQ; valid rate ${s(clean!.validAckedPerS)} → ${s(flood!.validAckedPerS)} msg/s, PUBACK p99 ${ms(clean!.pubackMs.p99)} → ${ms(flood!.pubackMs.p99)} | brokers ${clean!.brokerCores} → ${flood!.brokerCores} cores |`
  }
  const t = r.telemetry
  const c = r.commands
  const cars = r.cars
  const recover = r.throughput.recoverS === null ? 'did not recover in the observation window' : `${r.throughput.recoverS} s after ${r.throughput.recoverFrom === 'injection' ? 'the fault' : 'it was lifted'}`
  const refused = c.refused > 0 ? `, ${c.refused} refused (${Object.entries(c.refusedByStatus).map(([k, v]) => `${v} × ${k === '-1' ? 'no answer in 15 s' : k}`).join(', ')})` : ''
  const slow = (c.acceptedSlow ?? 0) > 0 ? ` (${c.acceptedSlow} of them 202: Kafka slow to confirm${c.slowThenFailed > 0 ? `; ${c.slowThenFailed} then failed, as their records said` : ''})` : ''
  const answered = c.answerMs === undefined ? '' : `; api answered in p99 ${ms(c.answerMs.p99)}, max ${ms(c.answerMs.max)}`
  const storm = cars.reconnectMs === undefined || cars.reconnectMs.n === 0 ? '' : `, back in p99 ${ms(cars.reconnectMs.p99)} (max ${ms(cars.reconnectMs.max)}; with the car's own 2–3 s reconnect delay)`
  const refusedConnacks = (cars.connackRefused ?? 0) > 0 ? `${s(cars.connackRefused)} CONNACK refusals; ` : ''
  const carsSaw = `${cars.disconnects > 0 ? `${cars.disconnects} disconnected and reconnected (${cars.reconnects}${storm}); ` : 'no disconnects; '}${refusedConnacks}PUBACK p99 ${ms(cars.pubackMsBefore.p99)} before, ${ms(cars.pubackMsDuringFault.p99)} (max ${ms(cars.pubackMsDuringFault.max)}) during and just after; rate ${s(r.throughput.baselineAckedPerS)} → lowest ${s(r.throughput.lowestAckedPerS)} msg/s`
  const scoring = r.scoring === undefined ? '' : `; scorer: ${s(r.scoring.unscored)} of ${s(r.scoring.telemetryRecords)} records unscored, ${s(r.scoring.scoredMoreThanOnce)} scored twice`
  const brokers = `RSS max ${(r.brokers.rssMBMax as number[]).join('/')} MB (baseline ${(r.brokers.rssMBAtBaseline as number[] | null ?? []).join('/')}), held records max ${s(Math.max(...r.brokers.pendingRecordsMax as number[]))}${r.brokers.backpressureSeen ? ', backpressure on' : ''}`
  const dupWhy = t.duplicates > 0 && t.duplicatesResentByCars !== undefined
    ? ` (${t.duplicatesWrittenTwice === 0 ? 'all' : s(t.duplicatesResentByCars)} sent again by cars whose PUBACK was lost with the broker${t.duplicatesWrittenTwice > 0 ? `; **${s(t.duplicatesWrittenTwice)} written twice**` : ''})`
    : ''
  const notes = replicated ? ` | ${backend(r.fault?.notes ?? {})}` : ''
  return `| ${r.title} | **${s(t.ackedLost)}** of ${s(t.acked)} | ${s(t.duplicates)}${dupWhy} | ${recover} | ${c.accepted} accepted${slow}${refused}; **${c.lost} lost, ${c.receivedTwice} twice**${c.historyIncomplete > 0 ? `; ${c.historyIncomplete} acknowledged without every step in their history` : ''}${answered} | ${carsSaw}${scoring} | ${brokers}${notes} |`
}

/** What the replicated backends did (the scenario's notes). */
function backend (n: Run): string {
  const out: string[] = []
  if (n.leadersMovedAfterS !== undefined) out.push(n.leadersMovedAfterS === null ? 'leaders did not move' : `leaders moved after ${n.leadersMovedAfterS} s`)
  if (n.ledTelemetryPartitions !== undefined) out.push(`node ${n.node} led ${n.ledTelemetryPartitions} of ${topicPartitions['vehicle.telemetry']} telemetry partitions`)
  if (n.allPartitionsLedAfterS !== undefined) out.push(`every partition led again ${n.allPartitionsLedAfterS ?? 'n/a'} s after the restart`)
  if (n.failoverS !== undefined) {
    out.push(`Sentinel named the new master after ${n.failoverS} s${n.brokersRedisBackAfterS === undefined ? '' : `, every broker's Redis back after ${n.brokersRedisBackAfterS ?? 'n/a'} s`}`)
    out.push(`session keys ${s(n.sessionsBefore)} → ${s(n.sessionsAfter)}, command records ${s(n.commandRecordsBefore)} → ${s(n.commandRecordsAfter)}`)
    const w = n.markerWrites
    if (w !== undefined) out.push(`acknowledged marker writes lost: **${s(w.lost)}** of ${s(w.acked)}${w.lost > 0 ? ` (acknowledged within ${w.lostAckedWithinMsBeforeKill} ms before the kill)` : ''}; writes refused while no master: ${s(w.failedWhileAway)}`)
  }
  return out.join('; ')
}

const lines = [
  `| fault | acknowledged telemetry lost | duplicates in Kafka | throughput back to ≥ 90 % | commands | what the cars saw | brokers |${replicated ? ' backends |' : ''}`,
  `|---|---|---|---|---|---|---|${replicated ? '---|' : ''}`,
  ...order.filter(n => runs[n] !== undefined).map(n => row(n, runs[n]!))
]
const any = Object.values(runs)[0] as Run | undefined
const p = any?.params
const kafkaWhere = replicated ? `three Kafka nodes (replication 3, min ISR 2${p?.netns ? '; node 3 in a network namespace' : ''}), Redis master + replica + 3 Sentinels` : `Kafka ${p?.netns ? 'in a network namespace' : 'on loopback'}`
const conditions = p === undefined ? '' : `\n\n${p.cars.toLocaleString('en-US')} cars over ${p.simProcs} simulator processes, one QoS 1 message per car every ${p.intervalMs} ms, ${p.brokers} broker processes, ${p.commandsPerS} commands/s through the api to ${p.commandCars} cars; ${kafkaWhere}, its own Kafka and Redis; runs of ${[...new Set(Object.values(runs).map(r => (r.when as string).slice(0, 10)))].join(', ')} (\`${file}\`).`
const table = lines.join('\n') + conditions
const path = `${root}docs/faults.md`
const readme = readFileSync(path, 'utf8')
const re = new RegExp(`<!-- ${marker}:start -->[\\s\\S]*?<!-- ${marker}:end -->`)
if (!re.test(readme)) {
  console.error(`docs/faults.md has no <!-- ${marker}:start --> … <!-- ${marker}:end --> markers`)
  process.exit(1)
}
const next = readme.replace(re, `<!-- ${marker}:start -->\n${table}\n<!-- ${marker}:end -->`)
writeFileSync(path, next)
console.log(next === readme ? 'docs/faults.md table unchanged' : 'docs/faults.md table updated')
