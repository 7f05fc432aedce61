/** A seeded pseudo-random source (mulberry32): the same seed gives the same sequence. */
export interface SeededRandom {
  /** A float in [0, 1). */
  next(): number
  /** An integer in [0, bound). */
  below(bound: number): number
}

/** A {@link SeededRandom} from a 32-bit seed. */
export function seededRandom(seed: number): SeededRandom {
  let a = seed >>> 0
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return { next, below: (bound) => Math.floor(next() * bound) }
}
