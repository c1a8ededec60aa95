// The commander's settings: every one an environment variable with a default, validated at start.
import { ConfigError, int, readConfig, str, type ConfigOf } from '../../shared/src/config.js'
import { hostSetting, kafkaSettings, logSettings, opsPortSetting, redisSettings } from '../../shared/src/common-config.js'
import { COMMAND_TYPES, COMMAND_TTL_LIMITS_S, type CommandType } from '../../shared/src/command-schema.js'

export const commanderSettings = {
  ...hostSetting,
  ...kafkaSettings,
  ...redisSettings,
  ...logSettings,
  ...opsPortSetting('FLEET_COMMANDER_OPS_PORT', 9103),
  commanderId: str('FLEET_COMMANDER_ID', '', 'instance id in logs and metrics (default: host name + pid)'),
  groupId: str('FLEET_COMMANDER_GROUP', 'fleet-commander', 'Kafka consumer group prefix (<prefix>.events, <prefix>.anomalies)', /^[A-Za-z0-9._-]{1,200}$/),
  expiryGraceMs: int('FLEET_COMMANDER_EXPIRY_GRACE_MS', 3_000, 'a command is declared expired this long after its expiresAt (events still on their way land first)', 0, 600_000),
  sweepIntervalMs: int('FLEET_COMMANDER_SWEEP_INTERVAL_MS', 1_000, 'how often expired commands are looked for', 50, 600_000),
  anomalyRules: str('FLEET_COMMANDER_ANOMALY_RULES', '', 'anomaly → command rules, e.g. "bearing_wear=request-diagnostics,*=flash-lights" (mode or * = any anomaly); empty = off'),
  anomalyCooldownS: int('FLEET_COMMANDER_ANOMALY_COOLDOWN_S', 900, 'a rule sends at most one command per car in this time', 1, 7 * 24 * 3600),
  anomalyCommandTtlS: int('FLEET_COMMANDER_ANOMALY_COMMAND_TTL_S', 600, 'TTL of the commands rules send', COMMAND_TTL_LIMITS_S.min, COMMAND_TTL_LIMITS_S.max),
  restartBackoffMs: int('FLEET_COMMANDER_RESTART_BACKOFF_MS', 1_000, 'wait before rebuilding a crashed consumer; doubles with each restart in a row without progress', 10, 600_000),
  restartBackoffMaxMs: int('FLEET_COMMANDER_RESTART_BACKOFF_MAX_MS', 30_000, 'longest wait before a consumer is rebuilt', 10, 3_600_000),
  commandRetentionS: int('FLEET_COMMAND_RETENTION_S', 7 * 24 * 3600, 'how long a command record stays in Redis after its expiry', 60, 365 * 24 * 3600)
}

export type CommanderConfig = ConfigOf<typeof commanderSettings>

export interface AnomalyRule { match: string, command: CommandType }

/** "mode=command,…" → rules; '*' matches any anomaly. */
export function parseAnomalyRules (raw: string): AnomalyRule[] {
  if (raw.trim() === '') return []
  return raw.split(',').map(s => s.trim()).filter(Boolean).map(entry => {
    const [match, command, ...rest] = entry.split('=').map(s => s.trim())
    if (!match || !command || rest.length > 0 || !/^(\*|[a-z0-9_-]{1,64})$/i.test(match)) throw new Error(`"${entry}" is not <mode>=<command>`)
    // Rules send no parameters, so only types whose parameters are optional qualify.
    if (!(COMMAND_TYPES as string[]).includes(command) || ['set-telemetry-interval', 'ota-update'].includes(command)) {
      throw new Error(`"${command}" is not a command a rule can send (lock, unlock, flash-lights, request-diagnostics)`)
    }
    return { match, command: command as CommandType }
  })
}

export function loadCommanderConfig (env: NodeJS.ProcessEnv = process.env): CommanderConfig {
  const config = readConfig(commanderSettings, env)
  const problems: string[] = []
  try {
    parseAnomalyRules(config.anomalyRules)
  } catch (err) {
    problems.push(`FLEET_COMMANDER_ANOMALY_RULES: ${(err as Error).message}`)
  }
  if (problems.length > 0) throw new ConfigError(problems)
  return config
}
