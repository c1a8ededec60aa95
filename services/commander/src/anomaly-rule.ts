// Anomaly → command rules (FLEET_COMMANDER_ANOMALY_RULES, off when empty): an anomaly on
// vehicle.anomalies whose failureModeGuess matches a rule (or any anomaly, for `*`) issues that
// rule's command to the car, through the same issuer as the api. At most one command per car and
// rule per cooldown, across commander replicas (a Redis key set NX with the cooldown as TTL).
// A command Kafka refused gives the cooldown back; refused for good (a non-retriable error), the
// anomaly is not consumed: the error stops the consumer, whose supervisor rebuilds it to read it again.
import type { Consumer, EachBatchPayload } from 'kafkajs'
import type { Redis } from 'ioredis'
import { checkAnomaly, type Anomaly } from '../../shared/src/anomaly-schema.js'
import type { CommandIssuer } from '../../shared/src/command-issuer.js'
import type { CommandRequest } from '../../shared/src/command-schema.js'
import type { Logger } from '../../shared/src/logger.js'
import { isNonRetriable } from '../../shared/src/renewable-producer.js'
import { keepForNextConsumer } from '../../shared/src/supervised-consumer.js'
import { isVehicleId, KafkaTopics } from '../../shared/src/topics.js'
import type { AnomalyRule } from './commander-config.js'
import type { CommanderMetrics } from './commander-metrics.js'

export const ruleCooldownKey = (vehicleId: string, rule: string) => `fleet:commands:rule-cooldown:${rule}:${vehicleId}`
export const ruleName = (r: AnomalyRule) => `${r.match}=${r.command}`

export function matchRule (rules: AnomalyRule[], anomaly: Pick<Anomaly, 'failureModeGuess'>): AnomalyRule | null {
  return rules.find(r => r.match === anomaly.failureModeGuess) ?? rules.find(r => r.match === '*') ?? null
}

export function ruleRequest (rule: AnomalyRule, anomaly: Anomaly): CommandRequest {
  if (rule.command === 'request-diagnostics') {
    const reason = `anomaly score ${anomaly.score.toFixed(3)} > ${anomaly.threshold.toFixed(3)}${anomaly.failureModeGuess === null ? '' : ` (likely ${anomaly.failureModeGuess})`}`
    return { type: 'request-diagnostics', params: { reason: reason.slice(0, 200) } }
  }
  return { type: rule.command } as CommandRequest
}

export interface RuleDeps {
  rules: AnomalyRule[]
  issuer: CommandIssuer
  redis: Redis
  cooldownS: number
  ttlS: number
  metrics: CommanderMetrics
  log: Logger
}

/** Handles one anomaly record; returns the rule that fired, if any. */
export async function onAnomaly (value: Buffer | null, deps: RuleDeps): Promise<string | null> {
  let anomaly: unknown
  try {
    anomaly = JSON.parse(value?.toString('utf8') ?? '')
  } catch {
    return null
  }
  if (!checkAnomaly.Check(anomaly) || !isVehicleId(anomaly.vehicleId)) return null
  const rule = matchRule(deps.rules, anomaly)
  if (rule === null) return null
  const name = ruleName(rule)
  const cooldownKey = ruleCooldownKey(anomaly.vehicleId, name)
  const fresh = await deps.redis.set(cooldownKey, '1', 'EX', deps.cooldownS, 'NX')
  if (fresh !== 'OK') {
    deps.metrics.ruleCommands.inc({ rule: name, result: 'cooldown' })
    return null
  }
  const result = await deps.issuer.issue({ vehicleId: anomaly.vehicleId, request: ruleRequest(rule, anomaly), ttlS: deps.ttlS, requestedBy: `rule:${name}`, source: 'commander' })
  deps.metrics.ruleCommands.inc({ rule: name, result: result.kind })
  deps.log.info({ vehicleId: anomaly.vehicleId, rule: name, result: result.kind }, 'anomaly rule fired')
  if (result.kind === 'unavailable') {
    await deps.redis.del(cooldownKey)
    if (isNonRetriable(result.error)) throw result.error
  }
  return name
}

/** Subscribes and runs `consumer`; `progress` is called after each anomaly handled. */
export async function runAnomalyRules (consumer: Consumer, deps: RuleDeps, progress: () => void = () => {}): Promise<void> {
  await consumer.subscribe({ topic: KafkaTopics.anomalies, fromBeginning: false })
  await consumer.run({
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale }: EachBatchPayload) => {
      for (const message of batch.messages) {
        if (!isRunning() || isStale()) return
        try {
          await onAnomaly(message.value, deps)
        } catch (err) {
          await keepForNextConsumer(commitOffsetsIfNecessary, batch.topic, batch.partition, message.offset)
          throw err
        }
        resolveOffset(message.offset)
        progress()
        await heartbeat()
      }
    }
  })
}
