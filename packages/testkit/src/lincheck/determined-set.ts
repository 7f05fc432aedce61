/**
 * The set of determined operations linearized so far, as a bitset with an
 * incremental Zobrist hash and its non-trivial word range.
 *
 * Operations are numbered by call time, and the search only linearizes
 * operations called before the first pending return, so the set is almost
 * always "everything up to some point, plus a few": words below `low` are all
 * ones and words from `high` on are all zero. The cache stores only
 * `words[low, high)`, a word or two instead of the whole history.
 */
export class DeterminedSet {
  readonly words: Uint32Array
  /** Xor of the Zobrist value of every member. */
  hash = 0
  /** `words[0, low)` are all ones. */
  low = 0
  /** `words[high, …)` are all zero. */
  high = 0
  private readonly zobrist: Int32Array

  constructor(size: number) {
    this.words = new Uint32Array((size + 31) >>> 5)
    this.zobrist = new Int32Array(size)
    for (let i = 0; i < size; i++) this.zobrist[i] = mix32(i)
  }

  /** The hash the set would have with `bit` toggled. */
  hashWith(bit: number): number {
    return this.hash ^ this.zobrist[bit]!
  }

  add(bit: number): void {
    const w = bit >>> 5
    this.words[w]! |= 1 << (bit & 31)
    this.hash ^= this.zobrist[bit]!
    if (w >= this.high) this.high = w + 1
    while (this.low < this.high && this.words[this.low] === 0xffffffff) this.low++
  }

  remove(bit: number): void {
    const w = bit >>> 5
    this.words[w]! &= ~(1 << (bit & 31))
    this.hash ^= this.zobrist[bit]!
    if (w < this.low) this.low = w
    while (this.high > this.low && this.words[this.high - 1] === 0) this.high--
  }
}

/** A well-mixed 32-bit value per index (MurmurHash3's finalizer), for Zobrist hashing. */
export function mix32(index: number): number {
  let h = (index + 0x9e3779b9) | 0
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h
}
