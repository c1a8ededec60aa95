// The broker's Prometheus metrics, created once per broker instance on its own registry.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'

export type BrokerMetrics = ReturnType<typeof createBrokerMetrics>

export function createBrokerMetrics (registry: Registry, gauges: { authFailureAddresses?: () => number, heldBytes?: () => number, pendingRecords?: () => number, connectsPending?: () => number, eventLoopLateMs?: () => number } = {}) {
  const registers = [registry]
  return {
    connections: new Gauge({ name: 'fleet_broker_connections', help: 'connected MQTT clients', registers }),
    connects: new Counter({ name: 'fleet_broker_connects_total', help: 'CONNECT attempts by result', labelNames: ['result'], registers }),
    messagesIn: new Counter({ name: 'fleet_broker_messages_in_total', help: 'PUBLISH packets from cars by topic class and QoS', labelNames: ['class', 'qos'], registers }),
    fastPath: new Counter({ name: 'fleet_broker_fast_path_messages_total', help: 'telemetry PUBLISHes read straight from the socket (fast path); the rest of messages_in went through mqtt-packet and aedes', registers }),
    refused: new Counter({ name: 'fleet_broker_refused_total', help: 'packets or connections refused, by reason', labelNames: ['reason'], registers }),
    dlq: new Counter({ name: 'fleet_broker_dlq_total', help: 'telemetry sent to the dead-letter topic, by reason', labelNames: ['reason'], registers }),
    produceSeconds: new Histogram({
      name: 'fleet_broker_kafka_produce_seconds',
      help: 'time from a Kafka batch send to its acknowledgement (acks=all)',
      buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers
    }),
    ingestAckSeconds: new Histogram({
      name: 'fleet_broker_ingest_ack_seconds',
      help: 'from a car\'s message read to Kafka\'s acknowledgement of its record (its PUBACK leaves on the next turn of the event loop): the broker\'s share of the car\'s PUBACK wait',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers
    }),
    batchRecords: new Histogram({
      name: 'fleet_broker_kafka_batch_records',
      help: 'records per Kafka produce request',
      buckets: [1, 10, 50, 100, 250, 500, 1000, 2000, 5000],
      registers
    }),
    produceErrors: new Counter({ name: 'fleet_broker_kafka_produce_errors_total', help: 'failed Kafka batch sends (retried until they succeed)', registers }),
    recordsAcked: new Counter({ name: 'fleet_broker_kafka_records_acked_total', help: 'records Kafka acknowledged', labelNames: ['topic'], registers }),
    // read when scraped, not set per message
    pendingRecords: new Gauge({ name: 'fleet_broker_ingest_pending_records', help: 'records waiting for a Kafka acknowledgement (their PUBACKs are held)', registers, collect () { this.set(gauges.pendingRecords?.() ?? 0) } }),
    backpressure: new Gauge({ name: 'fleet_broker_backpressure', help: '1 while Kafka writes fail and car sockets are held, else 0', registers }),
    qos2Resends: new Counter({ name: 'fleet_broker_qos2_resends_total', help: 'QoS 2 PUBLISHes re-sent before their PUBREL: answered again, not written to Kafka again', registers }),
    commands: new Counter({ name: 'fleet_broker_commands_total', help: 'cloud-to-car command moves seen by the broker', labelNames: ['event'], registers }),
    commandsConsumed: new Counter({ name: 'fleet_broker_commands_consumed_total', help: 'vehicle.commands records read by this pod', registers }),
    commandsPublished: new Counter({ name: 'fleet_broker_commands_published_total', help: 'commands handed to aedes and routed or stored in the car\'s session', registers }),
    commandsSkipped: new Counter({ name: 'fleet_broker_commands_skipped_total', help: 'vehicle.commands records not published, by reason (invalid, no_record, mismatch = differs from the stored record, final, expired, already_routed)', labelNames: ['reason'], registers }),
    commandPublishSeconds: new Histogram({ name: 'fleet_broker_command_publish_seconds', help: 'from handing a slice of commands to aedes until every one was routed or stored', buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers }),
    commandGroupMember: new Gauge({ name: 'fleet_broker_command_group_member', help: '1 while this pod is a member of the vehicle.commands consumer group', registers }),
    sessionErrors: new Counter({ name: 'fleet_broker_session_errors_total', help: 'session store (Redis) writes that failed without closing the connection, by operation', labelNames: ['op'], registers }),
    presenceErrors: new Counter({ name: 'fleet_broker_presence_errors_total', help: 'failed presence writes to Redis (connections are not refused for them)', registers }),
    tlsReloads: new Counter({ name: 'fleet_broker_tls_reloads_total', help: 'TLS certificate reloads from changed files, by result', labelNames: ['result'], registers }),
    authFailureAddresses: new Gauge({ name: 'fleet_broker_auth_failure_addresses', help: 'remote addresses with failed credential checks on record (FLEET_AUTH_FAILURES_PER_MINUTE); refusals are fleet_broker_refused_total{reason="auth_failure_rate"}', registers, collect () { this.set(gauges.authFailureAddresses?.() ?? 0) } }),
    rateLimited: new Counter({ name: 'fleet_broker_rate_limited_total', help: 'times a car went over its publish rate (FLEET_CAR_PUBLISH_RATE_PER_S) and its socket was not read until back under it', registers }),
    heldBytes: new Gauge({ name: 'fleet_broker_held_bytes', help: 'bytes of car messages held on this pod awaiting Kafka (payload + per-message overhead); reading pauses at FLEET_HELD_BYTES_PER_POD', registers, collect () { this.set(gauges.heldBytes?.() ?? 0) } }),
    readPaused: new Gauge({ name: 'fleet_broker_read_paused', help: '1 while held messages are over FLEET_HELD_BYTES_PER_POD and no car is read, else 0', registers }),
    readPauses: new Counter({ name: 'fleet_broker_read_pauses_total', help: 'times held messages reached FLEET_HELD_BYTES_PER_POD and reading paused for every car', registers }),
    connectsPending: new Gauge({ name: 'fleet_broker_connects_pending', help: 'connects under way (CONNECT read, session not yet ready; counted while FLEET_MAX_PENDING_CONNECTS or FLEET_CONNECT_SHED_LAG_MS is on); at FLEET_MAX_PENDING_CONNECTS new ones are refused: fleet_broker_refused_total{reason="connects_pending"}', registers, collect () { this.set(gauges.connectsPending?.() ?? 0) } }),
    eventLoopLate: new Gauge({ name: 'fleet_broker_event_loop_late_seconds', help: 'how late the event loop ran in its latest 50-ms sample; over FLEET_CONNECT_SHED_LAG_MS new connects are refused: fleet_broker_refused_total{reason="overloaded"}', registers, collect () { this.set((gauges.eventLoopLateMs?.() ?? 0) / 1_000) } }),
    clientErrors: new Counter({ name: 'fleet_broker_client_errors_total', help: 'connections closed on a protocol or socket error', labelNames: ['stage'], registers })
  }
}
