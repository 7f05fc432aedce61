/**
 * Keys in ascending order, produced one at a time, so that a large map's snapshot can be written in
 * sorted chunks without sorting every key before the first chunk.
 *
 * Two things keep it cheap:
 * - **Incremental quicksort** (Paredes and Navarro, "Optimal incremental sorting", 2006): the next
 *   smallest key costs amortised O(log n), the first about 2n comparisons, the whole pass O(n log n).
 * - **A remembered order.** A pass that finishes remembers, for the map it came from, the sorted order of
 *   the keys it saw. A map never reorders its keys (insertion order), so the next pass sorts only the keys
 *   inserted since and merges them into the remembered order. A map restored from sorted chunks starts
 *   with its order known. A map whose keys changed otherwise (a key deleted) is detected, and sorted anew.
 *
 * What is remembered never changes the result, only the work: the order produced is always the keys
 * sorted by UTF-16 code units (JavaScript's `<`).
 */

/** A finished pass: the keys of a map in insertion order, and their indices in ascending key order. */
interface KnownOrder {
  readonly keys: readonly string[]
  readonly order: Uint32Array
}

/** Per map: the longest sorted order known for it. Weak: it goes with the map. */
const knownOrders = new WeakMap<object, KnownOrder>()

/** Ranges this small are insertion-sorted instead of partitioned. */
const SMALL_RANGE = 16

/**
 * `keys` (a map's keys in insertion order) are already in ascending order: remembered for `owner`, so its
 * next snapshot needs no sort. Checked, since a wrong order would break determinism: unsorted keys are
 * not remembered.
 */
export function rememberSortedKeys(owner: object, keys: readonly string[]): void {
  for (let i = 1; i < keys.length; i++) if (!(keys[i - 1]! < keys[i]!)) return
  const order = new Uint32Array(keys.length)
  for (let i = 0; i < order.length; i++) order[i] = i
  knownOrders.set(owner, { keys, order })
}

/**
 * The indices of `keys` (a capture of `owner`'s keys, in insertion order, all distinct) in ascending key
 * order, one per `next()`. No work is done until the first `next()`.
 */
export class SortedOrder {
  private readonly owner: object
  private readonly keys: readonly string[]
  private started = false
  /** The remembered order of the first `oldCount` keys, and where the merge is in it. */
  private old: Uint32Array = new Uint32Array(0)
  private oldAt = 0
  private fresh: IncrementalSort | undefined
  private pendingFresh = -1
  private readonly merged: Uint32Array
  private emitted = 0

  constructor(owner: object, keys: readonly string[]) {
    this.owner = owner
    this.keys = keys
    this.merged = new Uint32Array(keys.length)
  }

  /** The index of the next key in ascending order, or -1 after the last. */
  next(): number {
    if (!this.started) this.start()
    const keys = this.keys
    const old = this.oldAt < this.old.length ? this.old[this.oldAt]! : -1
    const fresh = this.pendingFresh
    let index: number
    if (old < 0 && fresh < 0) {
      this.finish()
      return -1
    }
    if (fresh < 0 || (old >= 0 && keys[old]! < keys[fresh]!)) {
      index = old
      this.oldAt++
    } else {
      index = fresh
      this.pendingFresh = this.fresh!.take()
    }
    this.merged[this.emitted++] = index
    return index
  }

  /** Takes the remembered order if it still describes a prefix of these keys; the rest are sorted incrementally. */
  private start(): void {
    this.started = true
    const known = knownOrders.get(this.owner)
    const keys = this.keys
    let oldCount = 0
    if (known && known.keys.length <= keys.length) {
      let prefix = true
      for (let i = 0; i < known.keys.length; i++) {
        if (known.keys[i] !== keys[i]) {
          prefix = false
          break
        }
      }
      if (prefix) {
        this.old = known.order
        oldCount = known.keys.length
      }
    }
    const fresh = new Uint32Array(keys.length - oldCount)
    for (let i = 0; i < fresh.length; i++) fresh[i] = oldCount + i
    this.fresh = new IncrementalSort(fresh, keys)
    this.pendingFresh = this.fresh.take()
  }

  private finish(): void {
    if (this.emitted !== this.keys.length) return
    const known = knownOrders.get(this.owner)
    if (!known || known.keys.length <= this.keys.length) knownOrders.set(this.owner, { keys: this.keys, order: this.merged })
  }
}

/**
 * Incremental quicksort of `indices` by `keys[index]`: `take()` returns them in ascending key order. The
 * pivots come from a fixed-seed xorshift, so the work is the same on every run (the order never depends
 * on them).
 */
class IncrementalSort {
  private readonly a: Uint32Array
  private readonly keys: readonly string[]
  /** Pivot positions still ahead, the nearest on top; the bottom is the end of the array. */
  private readonly stack: number[]
  private cursor = 0
  /** `a[cursor..sortedUpTo)` is in its final order. */
  private sortedUpTo = 0
  private seed = 0x2545f491

  constructor(indices: Uint32Array, keys: readonly string[]) {
    this.a = indices
    this.keys = keys
    this.stack = [indices.length]
  }

  /** The next index in ascending key order, or -1. */
  take(): number {
    const { a, stack } = this
    if (this.cursor >= a.length) return -1
    if (this.cursor < this.sortedUpTo) return a[this.cursor++]!
    if (stack[stack.length - 1] === this.cursor) {
      // A pivot, already in its final place.
      stack.pop()
      this.sortedUpTo = this.cursor + 1
      return a[this.cursor++]!
    }
    let top = stack[stack.length - 1]!
    while (top - this.cursor > SMALL_RANGE) {
      top = this.partition(this.cursor, top)
      stack.push(top)
    }
    if (top === this.cursor) {
      stack.pop()
      this.sortedUpTo = this.cursor + 1
      return a[this.cursor++]!
    }
    this.insertionSort(this.cursor, top)
    this.sortedUpTo = top
    return a[this.cursor++]!
  }

  /** Lomuto partition of `a[lo..hi)` around a pseudo-random pivot; returns the pivot's final position. */
  private partition(lo: number, hi: number): number {
    const { a, keys } = this
    let s = this.seed
    s ^= s << 13
    s ^= s >>> 17
    s ^= s << 5
    this.seed = s >>> 0
    const pick = lo + (this.seed % (hi - lo))
    const pivot = a[pick]!
    a[pick] = a[hi - 1]!
    a[hi - 1] = pivot
    const pivotKey = keys[pivot]!
    let store = lo
    for (let i = lo; i < hi - 1; i++) {
      const value = a[i]!
      if (keys[value]! < pivotKey) {
        a[i] = a[store]!
        a[store++] = value
      }
    }
    a[hi - 1] = a[store]!
    a[store] = pivot
    return store
  }

  private insertionSort(lo: number, hi: number): void {
    const { a, keys } = this
    for (let i = lo + 1; i < hi; i++) {
      const value = a[i]!
      const key = keys[value]!
      let j = i - 1
      while (j >= lo && keys[a[j]!]! > key) {
        a[j + 1] = a[j]!
        j--
      }
      a[j + 1] = value
    }
  }
}
