// Which broker each simulated car of a fault run starts on: car i takes slot i mod n of a list of
// broker indices and, like a car behind a load balancer, moves to the next slot's broker when it
// has to reconnect (the simulators' URL order). An uneven list puts, say, 15,000 cars on the pod a
// drain ends and decides where they land.

/** BROKER_SLOTS ("1,0,1,2,…", broker indices): an uneven spread of the cars over the brokers, and
 *  where each moves when its broker goes (the next slot), e.g. 15,000 cars on the pod a drain ends
 *  and the rest shared evenly by the others. Unset: every broker once, in order. */
export function brokerSlotsOf (spec: string | undefined, brokers: number): number[] {
  if (spec === undefined || spec.trim() === '') return Array.from({ length: brokers }, (_, i) => i)
  const slots = spec.split(',').map(s => Number(s.trim()))
  const bad = slots.find(b => !Number.isInteger(b) || b < 0 || b >= brokers)
  if (bad !== undefined) throw new Error(`BROKER_SLOTS: "${spec}" — each entry must be a broker index 0…${brokers - 1}`)
  for (let b = 0; b < brokers; b++) if (!slots.includes(b)) throw new Error(`BROKER_SLOTS: "${spec}" never names broker ${b}`)
  return slots
}

/** The first `count` car indices (of `cars`) that start on broker `b`. */
export function carsStartingOn (slots: number[], cars: number, b: number, count: number): number[] {
  const out: number[] = []
  for (let i = 0; i < cars && out.length < count; i++) if (slots[i % slots.length] === b) out.push(i)
  return out
}
