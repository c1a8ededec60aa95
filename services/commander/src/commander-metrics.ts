// The commander's Prometheus metrics (one registry per instance).
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'

export function createCommanderMetrics (registry: Registry) {
  return {
    published: new Counter({ name: 'fleet_commander_published_total', help: 'commands published to cars through the broker (PUBACKed)', registers: [registry] }),
    skipped: new Counter({ name: 'fleet_commander_skipped_total', help: 'vehicle.commands records not published, by reason (invalid, no_record, mismatch = differs from the stored record, final, expired)', labelNames: ['reason'], registers: [registry] }),
    publishSeconds: new Histogram({ name: 'fleet_commander_publish_seconds', help: 'from publish to the broker\'s PUBACK, per batch', buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers: [registry] }),
    events: new Counter({ name: 'fleet_commander_events_total', help: 'vehicle.command-events applied to command records, by status and outcome', labelNames: ['status', 'outcome'], registers: [registry] }),
    expired: new Counter({ name: 'fleet_commander_expired_total', help: 'commands declared expired, by their status then', labelNames: ['was'], registers: [registry] }),
    ruleCommands: new Counter({ name: 'fleet_commander_rule_commands_total', help: 'commands sent by anomaly rules, by rule and result', labelNames: ['rule', 'result'], registers: [registry] }),
    mqttConnected: new Gauge({ name: 'fleet_commander_mqtt_connected', help: '1 while connected to the broker', registers: [registry] })
  }
}

export type CommanderMetrics = ReturnType<typeof createCommanderMetrics>
