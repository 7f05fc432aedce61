import type { DeterminedSet } from './determined-set'

/**
 * The set of search nodes already visited: (linearized operations, model state).
 *
 * Operations come in two kinds. Determined ones (known output and return) must
 * all be linearized; optional ones (unknown outcome, or never returned) may be
 * left out. A node (D, O, s) — determined set D, optional set O, state key s —
 * is covered by a visited node (D, O', s) with O' ⊆ O: anything that completes
 * the first also completes the second, which has more optional operations left.
 * Without optional operations this is Porcupine's exact (bitset, state) cache.
 *
 * Nodes are chained in buckets by a hash of D's Zobrist hash and the state key.
 * Their bitsets live in one growing word pool (D as its non-trivial word range
 * only), so recording a node allocates nothing but, now and then, a bigger pool.
 * The buckets are a typed array too (a JavaScript Map holds at most 2^24
 * entries: a large search used to end in `RangeError: Map maximum size exceeded`).
 */
export class StateCache {
  private bucketHead: Int32Array = new Int32Array(1024).fill(-1)
  private readonly keys: string[] = []
  private chain: Int32Array = new Int32Array(1024)
  private nodeHash: Int32Array = new Int32Array(1024)
  private offset: Int32Array = new Int32Array(1024)
  private low: Int32Array = new Int32Array(1024)
  private high: Int32Array = new Int32Array(1024)
  private pool = new Uint32Array(4096)
  private used = 0

  constructor(private readonly optionalWords: number) {}

  /** Number of nodes recorded. */
  get size(): number {
    return this.keys.length
  }

  /** True when a recorded node covers (determined, optional, key). */
  covers(determined: DeterminedSet, optional: Uint32Array, key: string): boolean {
    const pool = this.pool
    const ow = this.optionalWords
    const words = determined.words
    const low = determined.low
    const high = determined.high
    let node = this.bucketHead[bucketOf(determined.hash, key) & (this.bucketHead.length - 1)]!
    nodes: for (; node !== -1; node = this.chain[node]!) {
      if (this.low[node] !== low || this.high[node] !== high || this.keys[node] !== key) continue
      const base = this.offset[node]!
      for (let w = 0; w < ow; w++) if ((pool[base + w]! & ~optional[w]!) !== 0) continue nodes
      const dBase = base + ow - low
      for (let w = high - 1; w >= low; w--) if (pool[dBase + w] !== words[w]) continue nodes
      return true
    }
    return false
  }

  /** Record a node that {@link covers} said is new; the sets are copied. */
  add(determined: DeterminedSet, optional: Uint32Array, key: string): void {
    const node = this.keys.length
    if (node >= this.chain.length) {
      this.chain = grow(this.chain)
      this.nodeHash = grow(this.nodeHash)
      this.offset = grow(this.offset)
      this.low = grow(this.low)
      this.high = grow(this.high)
    }
    const low = determined.low
    const high = determined.high
    const length = this.optionalWords + high - low
    while (this.used + length > this.pool.length) {
      const bigger = new Uint32Array(this.pool.length * 2)
      bigger.set(this.pool)
      this.pool = bigger
    }
    this.pool.set(optional, this.used)
    this.pool.set(determined.words.subarray(low, high), this.used + this.optionalWords)
    this.offset[node] = this.used
    this.low[node] = low
    this.high[node] = high
    this.used += length
    this.keys.push(key)
    const hash = bucketOf(determined.hash, key)
    this.nodeHash[node] = hash
    if (node >= this.bucketHead.length) this.rehash(this.bucketHead.length * 2)
    const bucket = hash & (this.bucketHead.length - 1)
    this.chain[node] = this.bucketHead[bucket]!
    this.bucketHead[bucket] = node
  }

  /** Spread the nodes over `size` buckets (a power of two), keeping about one node per bucket. */
  private rehash(size: number): void {
    const heads = new Int32Array(size).fill(-1)
    for (let node = 0; node < this.keys.length - 1; node++) {
      const bucket = this.nodeHash[node]! & (size - 1)
      this.chain[node] = heads[bucket]!
      heads[bucket] = node
    }
    this.bucketHead = heads
  }
}

function grow(array: Int32Array): Int32Array {
  const bigger = new Int32Array(array.length * 2)
  bigger.set(array)
  return bigger
}

/** The bucket of a node: D's Zobrist hash mixed with an FNV-1a hash of the state key, kept a small integer. */
function bucketOf(hash: number, key: string): number {
  let h = hash ^ 0x811c9dc5
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193)
  return (h ^ (h >>> 15)) & 0x3fffffff
}
