// The commander's Prometheus metrics (one registry per instance).
import { Counter, type Registry } from 'prom-client'

export function createCommanderMetrics (registry: Registry) {
  return {
    events: new Counter({ name: 'fleet_commander_events_total', help: 'vehicle.command-events applied to command records, by status and outcome', labelNames: ['status', 'outcome'], registers: [registry] }),
    expired: new Counter({ name: 'fleet_commander_expired_total', help: 'commands declared expired, by their status then', labelNames: ['was'], registers: [registry] }),
    ruleCommands: new Counter({ name: 'fleet_commander_rule_commands_total', help: 'commands sent by anomaly rules, by rule and result', labelNames: ['rule', 'result'], registers: [registry] }),
    consumerRestarts: new Counter({ name: 'fleet_commander_consumer_restarts_total', help: 'crashed consumers replaced by a new one, by consumer (events, anomalies) and the error that stopped them', labelNames: ['consumer', 'error'], registers: [registry] }),
    producerRenewals: new Counter({ name: 'fleet_commander_producer_renewals_total', help: 'Kafka producers replaced after a non-retriable send error, by Kafka error', labelNames: ['error'], registers: [registry] })
  }
}

export type CommanderMetrics = ReturnType<typeof createCommanderMetrics>
