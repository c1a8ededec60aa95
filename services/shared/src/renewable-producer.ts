// A kafkajs producer that is replaced by a new one after a non-retriable send error. kafkajs keeps
// an idempotent producer's sequence numbers after the broker refused them (OUT_OF_ORDER_SEQUENCE_NUMBER
// after two of three Kafka nodes were down, issue #23), so every later send fails too; a new
// producer gets a new producer id and starts its sequences again.
import type { Producer, ProducerRecord, RecordMetadata } from 'kafkajs'
import type { Logger } from './logger.js'

/** Longest wait for the old producer's sends to settle before it is disconnected. */
const DRAIN_MS = 10_000

type ErrorChain = Error & { cause?: unknown, retriable?: boolean, type?: string }

function chain (err: unknown): ErrorChain[] {
  const out: ErrorChain[] = []
  for (let e = err; e instanceof Error && out.length < 10; e = (e as ErrorChain).cause) out.push(e as ErrorChain)
  return out
}

/**
 * Kafka refused it for good: what the error wraps last says not retriable (as kafkajs' own
 * consumer decides). Retries that ran out (KafkaJSNumberOfRetriesExceeded, itself marked not
 * retriable) are an outage, not a broken producer.
 */
export function isNonRetriable (err: unknown): boolean {
  const errors = chain(err)
  return errors.length > 0 && !errors.some(e => e.name === 'KafkaJSNumberOfRetriesExceeded') && errors.at(-1)!.retriable === false
}

/** The Kafka error code behind a kafkajs error (e.g. OUT_OF_ORDER_SEQUENCE_NUMBER), if any. */
export function kafkaErrorType (err: unknown): string | undefined {
  return chain(err).find(e => typeof e.type === 'string')?.type
}

export interface RenewableProducer extends Pick<Producer, 'send'> {
  connect: () => Promise<void>
  disconnect: () => Promise<void>
}

export function createRenewableProducer (opts: { create: () => Producer, log: Logger, onRenew?: (reason: string) => void }): RenewableProducer {
  let current = opts.create()
  let inFlight = new Set<Promise<unknown>>()
  let renewing: Promise<void> | null = null

  async function renew (reason: string): Promise<void> {
    const old = current
    const oldSends = inFlight
    const next = opts.create()
    await next.connect()
    current = next
    inFlight = new Set()
    opts.onRenew?.(reason)
    opts.log.warn({ reason }, 'Kafka producer replaced after a non-retriable error')
    let timer: NodeJS.Timeout | undefined
    await Promise.race([Promise.allSettled([...oldSends]), new Promise(resolve => { timer = setTimeout(resolve, DRAIN_MS) })])
    clearTimeout(timer)
    await old.disconnect().catch(() => {})
  }

  return {
    connect: () => current.connect(),
    disconnect: async () => {
      await renewing
      await current.disconnect()
    },
    async send (record: ProducerRecord): Promise<RecordMetadata[]> {
      const producer = current
      const sending = producer.send(record)
      const sends = inFlight
      sends.add(sending)
      try {
        return await sending
      } catch (err) {
        if (isNonRetriable(err) && producer === current && renewing === null) {
          const reason = kafkaErrorType(err) ?? (err as Error).name
          renewing = renew(reason)
            .catch((renewErr: Error) => opts.log.error({ err: renewErr.message, reason }, 'Kafka producer could not be replaced; the next refusal tries again'))
            .finally(() => { renewing = null })
        }
        throw err
      } finally {
        sends.delete(sending)
      }
    }
  }
}
