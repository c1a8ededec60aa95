// The commander's MQTT password: its own provisioned credential (FLEET_COMMANDER_MQTT_PASSWORD),
// revocable like a car's. On a development machine (FLEET_DEV_MODE=1) without one, the commander
// provisions itself a credential that ends after 12 hours, so `npm start` and the tests need no
// setup; production refuses to start without one (commander-config.ts).
import type { Redis } from 'ioredis'
import { createCredentialStore } from '../../shared/src/credential-store.js'
import type { Logger } from '../../shared/src/logger.js'
import type { CommanderConfig } from './commander-config.js'

const DEV_CREDENTIAL_MS = 12 * 3600 * 1000

export async function commanderPassword (config: Pick<CommanderConfig, 'mqttPassword' | 'devMode'>, redis: Redis, log: Logger): Promise<string> {
  if (config.mqttPassword !== '') return config.mqttPassword
  if (!config.devMode) throw new Error('FLEET_COMMANDER_MQTT_PASSWORD is required outside development')
  const issued = await createCredentialStore(redis).provision({ kind: 'service', id: 'commander' }, { notAfter: Date.now() + DEV_CREDENTIAL_MS })
  log.warn({ credentialId: issued.credentialId }, 'development mode: the commander provisioned its own MQTT credential')
  return issued.password
}
