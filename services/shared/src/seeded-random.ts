// A small seeded PRNG (mulberry32) so simulated fleets and test samples are reproducible.

export interface Random {
  next: () => number
  between: (min: number, max: number) => number
  int: (min: number, max: number) => number
  normal: (mean?: number, sd?: number) => number
  pick: <T>(items: readonly T[]) => T
}

export function seededRandom (seed: number): Random {
  let a = seed >>> 0
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const rnd: Random = {
    next,
    between: (min, max) => min + (max - min) * next(),
    int: (min, max) => Math.floor(min + (max - min + 1) * next()),
    normal: (mean = 0, sd = 1) => {
      const u = Math.max(next(), 1e-12)
      return mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next())
    },
    pick: items => {
      const item = items[Math.floor(next() * items.length)]
      if (item === undefined) throw new Error('pick from an empty list')
      return item
    }
  }
  return rnd
}
