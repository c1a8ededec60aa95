// Every Kafka topic and MQTT topic name fleet uses, written once.

export const KafkaTopics = {
  telemetry: 'vehicle.telemetry',
  telemetryDlq: 'vehicle.telemetry.dlq',
  anomalies: 'vehicle.anomalies',
  scores: 'vehicle.scores',
  commands: 'vehicle.commands',
  commandEvents: 'vehicle.command-events',
  /** Who provisioned, rotated, revoked or decommissioned which car or service account (api). */
  vehicleLifecycle: 'vehicle.lifecycle'
} as const

export type KafkaTopic = typeof KafkaTopics[keyof typeof KafkaTopics]

/** Partitions per topic when fleet creates them (scripts and tests); production sets its own. */
export const topicPartitions: Record<KafkaTopic, number> = {
  'vehicle.telemetry': 12,
  'vehicle.telemetry.dlq': 3,
  'vehicle.anomalies': 6,
  'vehicle.scores': 6,
  'vehicle.commands': 6,
  'vehicle.command-events': 6,
  'vehicle.lifecycle': 3
}

/** A vehicle id: letters, digits, '-', '_' and '.', 1-64 chars; never MQTT wildcards or '/'. */
export const VEHICLE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

export function isVehicleId (id: string): boolean {
  return VEHICLE_ID_PATTERN.test(id)
}

export type VehicleTopicKind = 'telemetry' | 'status' | 'commands' | 'commandAck'

const suffixToKind: Record<string, VehicleTopicKind> = {
  telemetry: 'telemetry',
  status: 'status',
  commands: 'commands',
  'commands/ack': 'commandAck'
}

const kindToSuffix: Record<VehicleTopicKind, string> = {
  telemetry: 'telemetry',
  status: 'status',
  commands: 'commands',
  commandAck: 'commands/ack'
}

export const MqttTopics = {
  telemetry: (vehicleId: string) => `vehicles/${vehicleId}/telemetry`,
  status: (vehicleId: string) => `vehicles/${vehicleId}/status`,
  commands: (vehicleId: string) => `vehicles/${vehicleId}/commands`,
  commandAck: (vehicleId: string) => `vehicles/${vehicleId}/commands/ack`,
  of: (kind: VehicleTopicKind, vehicleId: string) => `vehicles/${vehicleId}/${kindToSuffix[kind]}`
}

export interface VehicleTopic { vehicleId: string, kind: VehicleTopicKind }

/** Parses `vehicles/{id}/{telemetry|status|commands|commands/ack}`; anything else is null. */
export function parseVehicleTopic (topic: string): VehicleTopic | null {
  if (!topic.startsWith('vehicles/')) return null
  const rest = topic.slice(9)
  const slash = rest.indexOf('/')
  if (slash <= 0) return null
  const vehicleId = rest.slice(0, slash)
  const kind = suffixToKind[rest.slice(slash + 1)]
  if (kind === undefined || !isVehicleId(vehicleId)) return null
  return { vehicleId, kind }
}
