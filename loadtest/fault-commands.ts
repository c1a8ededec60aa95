// Operators' side of the fault matrix: commands sent through the api (POST
// /v1/vehicles/{id}/commands) at a steady rate to a sample of cars, then each accepted command
// followed to its final status. Judged against what the cars received (their record files):
// lost = accepted (201, or 202 and not then failed) but not acknowledged by the deadline; twice =
// a car received the same commandId more than once. 202 is the api's bounded answer while Kafka is
// slow: the command is pending and its record tells whether Kafka took it (failed if not).
import type { CommandRecord } from '../services/shared/src/command-schema.js'

export interface SentCommand {
  vehicleId: string
  /** ms since the scenario started */
  at: number
  phase: string
  httpStatus: number
  /** how long the api took to answer */
  answerMs?: number
  commandId?: string
  final?: CommandRecord
}

export interface CommandVerdict {
  sent: number
  /** 201 (stored and queued) or 202 (stored, Kafka slow to confirm) from the api. */
  accepted: number
  /** of those, 202 */
  acceptedSlow: number
  /** 202 and then failed, as the record told (Kafka refused it after all): the truth, not a loss. */
  slowThenFailed: number
  /** the api's answer time, p99 and max, over all commands answered */
  answerMs: { p99: number, max: number }
  /** any other answer (503 while Redis or Kafka is down: the caller is told to retry). */
  refused: number
  refusedByStatus: Record<string, number>
  acknowledged: number
  /** accepted, not acknowledged by the deadline. */
  lost: number
  lostByStatus: Record<string, number>
  /** acknowledged without every step (sent, delivered, acknowledged) in its history. */
  historyIncomplete: number
  neverReceived: number
  receivedTwice: number
  byPhase: Record<string, { sent: number, accepted: number, acknowledged: number }>
}

/** Every step from sent to acknowledged is in the record's history. */
const complete = (r: CommandRecord) => r.status !== 'acknowledged' || ['sent', 'delivered', 'acknowledged'].every(st => r.history.some(h => h.status === st))

export function createCommandSender (apiUrl: string, apiKey: string, t0: number) {
  const sent: SentCommand[] = []
  const headers = { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }
  let timer: NodeJS.Timeout | null = null
  let inflight = 0

  async function send (vehicleId: string, phase: string): Promise<void> {
    const started = performance.now()
    const c: SentCommand = { vehicleId, at: Math.round(started - t0), phase, httpStatus: 0 }
    sent.push(c)
    inflight++
    try {
      const r = await fetch(`${apiUrl}/v1/vehicles/${vehicleId}/commands`, { method: 'POST', headers, body: JSON.stringify({ type: 'flash-lights', params: { times: 1 }, ttlSeconds: 600 }), signal: AbortSignal.timeout(15_000) })
      c.httpStatus = r.status
      c.answerMs = Math.round(performance.now() - started)
      const body = await r.json().catch(() => ({})) as { commandId?: string }
      if (r.status === 201 || r.status === 202) c.commandId = body.commandId
    } catch {
      c.httpStatus = -1 // no answer
    } finally {
      inflight--
    }
  }

  return {
    sent,
    send,
    /** Sends `perSecond` commands a second, round-robin over `cars`, labelled with `phase()`. */
    startStream (cars: string[], perSecond: number, phase: () => string) {
      let k = 0
      const tick = 100
      let due = 0
      timer = setInterval(() => {
        due += perSecond * tick / 1_000
        while (due >= 1) {
          due--
          void send(cars[k++ % cars.length]!, phase())
        }
      }, tick)
    },
    stopStream () {
      if (timer !== null) clearInterval(timer)
      timer = null
    },
    /** Follows every accepted command until it is final or `deadline` (performance.now()) passes. */
    async awaitFinal (deadline: number): Promise<void> {
      while (inflight > 0 && performance.now() < deadline) await new Promise(resolve => setTimeout(resolve, 100))
      const open = sent.filter(c => c.commandId !== undefined)
      let next = 0
      const worker = async () => {
        while (next < open.length) {
          const c = open[next++]!
          for (;;) {
            const left = Math.floor((deadline - performance.now()) / 1_000)
            try {
              const r = await fetch(`${apiUrl}/v1/vehicles/${c.vehicleId}/commands/${c.commandId}?waitSeconds=${Math.max(0, Math.min(30, left))}`, { headers, signal: AbortSignal.timeout(40_000) })
              if (r.ok) c.final = await r.json() as CommandRecord
            } catch {}
            if (c.final !== undefined && ['acknowledged', 'rejected', 'failed', 'expired'].includes(c.final.status)) break
            if (left <= 0) break
            await new Promise(resolve => setTimeout(resolve, 200))
          }
        }
      }
      await Promise.all(Array.from({ length: 32 }, worker))
      // A step that arrives after the final one (the commander's `sent` retried past the car's
      // ack, say) is added to the history late: read those records once more a little later.
      const incomplete = () => open.filter(c => c.final !== undefined && !complete(c.final))
      if (incomplete().length === 0) return
      await new Promise(resolve => setTimeout(resolve, 10_000))
      await Promise.all(incomplete().map(async c => {
        try {
          const r = await fetch(`${apiUrl}/v1/vehicles/${c.vehicleId}/commands/${c.commandId}`, { headers, signal: AbortSignal.timeout(10_000) })
          if (r.ok) c.final = await r.json() as CommandRecord
        } catch {}
      }))
    }
  }
}

export function judgeCommands (sent: SentCommand[], receipts: Map<string, number>): CommandVerdict {
  const answered = sent.flatMap(c => c.answerMs === undefined ? [] : [c.answerMs]).sort((a, b) => a - b)
  const answerMs = { p99: answered[Math.min(answered.length - 1, Math.floor(answered.length * 0.99))] ?? 0, max: answered.at(-1) ?? 0 }
  const v: CommandVerdict = { sent: sent.length, accepted: 0, acceptedSlow: 0, slowThenFailed: 0, answerMs, refused: 0, refusedByStatus: {}, acknowledged: 0, lost: 0, lostByStatus: {}, historyIncomplete: 0, neverReceived: 0, receivedTwice: 0, byPhase: {} }
  for (const c of sent) {
    const p = v.byPhase[c.phase] ??= { sent: 0, accepted: 0, acknowledged: 0 }
    p.sent++
    if (c.commandId === undefined) {
      v.refused++
      v.refusedByStatus[c.httpStatus] = (v.refusedByStatus[c.httpStatus] ?? 0) + 1
      continue
    }
    v.accepted++
    p.accepted++
    const slow = c.httpStatus === 202
    if (slow) v.acceptedSlow++
    const n = receipts.get(c.commandId) ?? 0
    if (n === 0) v.neverReceived++
    if (n > 1) v.receivedTwice++
    const status = c.final?.status ?? 'unknown'
    if (status === 'acknowledged') {
      v.acknowledged++
      p.acknowledged++
      const steps = new Set(c.final!.history.map(h => h.status))
      if (!['sent', 'delivered', 'acknowledged'].every(s => steps.has(s as never))) v.historyIncomplete++
    } else if (slow && status === 'failed') {
      v.slowThenFailed++
    } else {
      v.lost++
      v.lostByStatus[status] = (v.lostByStatus[status] ?? 0) + 1
    }
  }
  return v
}
