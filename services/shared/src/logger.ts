// pino loggers. Log ids, counts and reasons; never payloads (VINs and GPS traces are personal data).
import { pino, type Logger } from 'pino'

export type { Logger }

export function createLogger (service: string, level = 'info'): Logger {
  return pino({ name: service, level, base: { service } })
}
