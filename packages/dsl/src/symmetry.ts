import type { CheckedProgram } from './checker'
import type { Type } from './types'
import { compareScalars, keyToString, type Scalar, type Value } from './values'

/** Largest number that fits one UTF-16 unit below the surrogates (minus the Φ and escape codes). */
const SMALL_LIMIT = 0xd000 - 2
const NIL = 0
const ESCAPE = 0xffff
const SEMICOLON = 0x3b
/** Beyond this many interchangeable clients left to place, the canonical form is not searched for (see below). */
const MAX_PERMUTED = 6

function containsClient(type: Type): boolean {
  switch (type.kind) {
    case 'client_id':
      return true
    case 'list':
    case 'set':
      return containsClient(type.element)
    case 'map':
      return containsClient(type.key) || containsClient(type.value)
    default:
      return false
  }
}

/** True when the type holds client ids whose order depends on their names (sets of them, maps keyed by them). */
function hasUnorderedClients(type: Type): boolean {
  switch (type.kind) {
    case 'list':
      return hasUnorderedClients(type.element)
    case 'set':
      return type.element.kind === 'client_id'
    case 'map':
      return type.key.kind === 'client_id' || hasUnorderedClients(type.value)
    default:
      return false
  }
}

/**
 * State encodings for the model checker, canonical under symmetry: two states
 * that differ only by a permutation of the interchangeable client ids get the
 * same encoding (and states that differ otherwise different encodings).
 *
 * An encoding is a sequence of 16-bit codes, written into a buffer that is
 * reused (no string per state): Φ is 0; strings and client ids are interned
 * to one code (or an escape, their length and their code units once the table
 * is full); small non-negative ints are one code, others an escape and their
 * decimal digits; bools one code; lists, sets and maps their length and their
 * elements (sets sorted, maps by key). Every part is prefix-free, so the
 * encoding of a state is unambiguous, and {@link decode} reads it back.
 *
 * The canonical form renames the clients: clients that must stay in place
 * (`fixed`: named by a property or an argument domain) keep their names; the
 * others are named, in order, by where they first appear in the parts of the
 * state whose order does not depend on client names (scalars and lists, in
 * declaration order). Clients that appear only in sets of client ids or maps
 * keyed by them get the names that give the smallest encoding (every
 * assignment is tried when at most six are left). Any renaming gives a sound
 * reduction (a renamed state is a state of the same orbit); the canonical one
 * gives the most.
 */
export class CanonicalKeys {
  private readonly interned = new Map<string, number>()
  private readonly strings: string[] = ['']
  private readonly encoders: readonly ((value: Value) => void)[]
  private readonly decoders: readonly (() => Value)[]
  private readonly collectors: readonly (((value: Value) => void) | undefined)[]
  private readonly unordered: boolean
  /** The client ids that may be renamed, and the names they may get, in order. */
  private readonly freeNames: readonly string[]
  /** By string code: true for the clients that may be renamed. */
  private readonly isFree: boolean[]
  /** The string codes of the names the free clients may get, in order. */
  private readonly freeCodes: readonly number[]
  /** By string code of a client: the code of its new name (0: not placed yet). */
  private readonly renameTo: Uint16Array
  /** How many free clients have been placed. */
  private placed = 0
  private renaming = false
  /** The encoding being written (or read): `buffer[0..length)`. */
  buffer: Uint16Array<ArrayBufferLike> = new Uint16Array(256)
  length = 0
  private position = 0
  /** Interchangeable clients, when symmetry is on. */
  readonly symmetric: boolean
  /** By how many free clients a state names: how many states its orbit has (k!/(k−m)!). */
  private readonly orbitSizes: readonly number[]

  constructor(program: CheckedProgram, clients: readonly string[], fixed: ReadonlySet<string> | undefined) {
    this.freeNames = fixed === undefined ? [] : clients.filter((c) => !fixed.has(c))
    // The clients are interned first: their codes are 1 … N, in order.
    for (const client of clients) this.intern(client)
    this.isFree = [false, ...clients.map((c) => this.freeNames.includes(c))]
    this.freeCodes = this.freeNames.map((c) => this.interned.get(c)!)
    this.renameTo = new Uint16Array(clients.length + 1)
    this.symmetric = this.freeNames.length >= 2 && program.vars.some((v) => containsClient(v.type))
    this.encoders = program.vars.map((v) => this.compile(v.type))
    this.decoders = program.vars.map((v) => this.compileDecoder(v.type))
    this.collectors = program.vars.map((v) => this.compileCollector(v.type))
    this.unordered = program.vars.some((v) => hasUnorderedClients(v.type))
    const k = this.freeNames.length
    this.orbitSizes = Array.from({ length: k + 1 }, (_, m) => {
      let size = 1
      for (let i = 0; i < m; i++) size *= k - i
      return size
    })
  }

  /**
   * How many states the last state given to {@link canonical} stands for (its
   * orbit under the permutations of the free clients): undefined when the
   * program holds sets of client ids or maps keyed by them (then it is not
   * counted).
   */
  orbitSize(): number | undefined {
    if (!this.symmetric) return 1
    if (this.unordered) return undefined
    return this.orbitSizes[this.placed]!
  }

  /** Writes the canonical encoding of a state (and, when given, its time) into `buffer`. */
  canonical(state: readonly Value[], time?: number): void {
    this.renaming = this.symmetric
    if (!this.symmetric) return this.encode(state, time)
    this.renameTo.fill(0)
    this.placed = 0
    for (let i = 0; i < this.collectors.length; i++) this.collectors[i]?.(state[i]!)
    const placed = this.placed
    const left = this.freeCodes.length - placed
    if (!this.unordered || left < 2) {
      if (left > 0) this.placeRest(placed)
      return this.encode(state, time)
    }
    const rest = this.freeCodes.filter((code) => this.renameTo[code] === 0)
    if (rest.length > MAX_PERMUTED) {
      this.placeRest(placed)
      return this.encode(state, time)
    }
    let best: string | undefined
    for (const order of permutations(rest)) {
      order.forEach((code, i) => {
        this.renameTo[code] = this.freeCodes[placed + i]!
      })
      this.encode(state, time)
      const key = this.text()
      if (best === undefined || key < best) best = key
    }
    this.length = 0
    for (let i = 0; i < best!.length; i++) this.emit(best!.charCodeAt(i))
  }

  /** The canonical encoding of a state as a string (for maps keyed by state). */
  key(state: readonly Value[], time?: number): string {
    this.canonical(state, time)
    return this.text()
  }

  /** Writes the exact encoding of a state (no renaming) into `buffer`: what {@link decode} reads back. */
  exact(state: readonly Value[]): void {
    this.renaming = false
    this.encode(state, undefined)
  }

  /** Reads a state back from an exact encoding. */
  decode(codes: Uint16Array, start: number): Value[] {
    const saved = this.buffer
    this.buffer = codes
    this.position = start
    const state = this.decoders.map((decoder) => decoder())
    this.buffer = saved
    return state
  }

  /** The encoding in `buffer` as a string. */
  text(): string {
    let out = ''
    for (let i = 0; i < this.length; i += 4096) out += String.fromCharCode(...this.buffer.subarray(i, Math.min(this.length, i + 4096)))
    return out
  }

  private placeRest(placed: number): void {
    let next = placed
    for (const code of this.freeCodes) if (this.renameTo[code] === 0) this.renameTo[code] = this.freeCodes[next++]!
  }

  private encode(state: readonly Value[], time: number | undefined): void {
    this.length = 0
    for (let i = 0; i < this.encoders.length; i++) this.encoders[i]!(state[i]!)
    if (time !== undefined) this.int(time)
  }

  private emit(code: number): void {
    if (this.length === this.buffer.length) {
      const bigger = new Uint16Array(this.buffer.length * 2)
      bigger.set(this.buffer)
      this.buffer = bigger
    }
    this.buffer[this.length++] = code
  }

  private int(n: number): void {
    if (n >= 0 && n < SMALL_LIMIT) return this.emit(1 + n)
    this.emit(ESCAPE)
    const digits = String(n)
    for (let i = 0; i < digits.length; i++) this.emit(digits.charCodeAt(i))
    this.emit(SEMICOLON)
  }

  private readInt(): number {
    const code = this.buffer[this.position++]!
    if (code !== ESCAPE) return code - 1
    let digits = ''
    for (let c = this.buffer[this.position++]!; c !== SEMICOLON; c = this.buffer[this.position++]!) digits += String.fromCharCode(c)
    return Number(digits)
  }

  private intern(value: string): number | undefined {
    let code = this.interned.get(value)
    if (code === undefined && this.interned.size < SMALL_LIMIT) {
      code = 1 + this.interned.size
      this.interned.set(value, code)
      this.strings.push(value)
    }
    return code
  }

  private string(value: string): void {
    const code = this.intern(value)
    if (code !== undefined) return this.emit(code)
    this.emit(ESCAPE)
    this.int(value.length)
    for (let i = 0; i < value.length; i++) this.emit(value.charCodeAt(i))
  }

  private readString(): string | null {
    const code = this.buffer[this.position++]!
    if (code === NIL) return null
    if (code !== ESCAPE) return this.strings[code]!
    const length = this.readInt()
    let out = ''
    for (let i = 0; i < length; i++) out += String.fromCharCode(this.buffer[this.position++]!)
    return out
  }

  private client(value: string): void {
    const code = this.interned.get(value)
    if (code === undefined) return this.string(value)
    if (this.renaming && code < this.renameTo.length) {
      const renamed = this.renameTo[code]!
      return this.emit(renamed === 0 ? code : renamed)
    }
    this.emit(code)
  }

  /** Records the first appearance of each renameable client in the name-independent parts of a value. */
  private compileCollector(type: Type): ((value: Value) => void) | undefined {
    if (!containsClient(type)) return undefined
    const interned = this.interned
    const isFree = this.isFree
    const renameTo = this.renameTo
    const freeCodes = this.freeCodes
    switch (type.kind) {
      case 'client_id':
        return (value) => {
          if (value === null) return
          const code = interned.get(value as string)
          if (code !== undefined && isFree[code] === true && renameTo[code] === 0) renameTo[code] = freeCodes[this.placed++]!
        }
      case 'list': {
        // Sets and client-keyed maps inside a list are placed by the search for the smallest encoding.
        const element = this.compileCollector(type.element)
        if (element === undefined) return undefined
        return (value) => {
          for (const item of value as readonly Value[]) element(item)
        }
      }
      case 'map': {
        if (type.key.kind === 'client_id') return undefined
        const element = this.compileCollector(type.value)
        if (element === undefined) return undefined
        return (value) => {
          const entries = [...(value as ReadonlyMap<Scalar, Value>)].sort(([a], [b]) => compareScalars(a, b))
          for (const [, item] of entries) element(item)
        }
      }
      default:
        return undefined
    }
  }

  private renamedScalar(type: Type, value: Scalar): Scalar {
    if (type.kind !== 'client_id' || !this.renaming) return value
    const code = this.interned.get(value as string)
    const renamed = code !== undefined && code < this.renameTo.length ? this.renameTo[code]! : 0
    return renamed === 0 ? value : this.strings[renamed]!
  }

  private compile(type: Type): (value: Value) => void {
    switch (type.kind) {
      case 'client_id':
        return (value) => (value === null ? this.emit(NIL) : this.client(value as string))
      case 'string':
        return (value) => (value === null ? this.emit(NIL) : this.string(value as string))
      case 'int':
        return (value) => (value === null ? this.emit(NIL) : this.int(value as number))
      case 'bool':
        return (value) => this.emit(value === null ? NIL : value ? 2 : 1)
      case 'list': {
        const element = this.compile(type.element)
        return (value) => {
          const items = value as readonly Value[]
          this.int(items.length)
          for (let i = 0; i < items.length; i++) element(items[i]!)
        }
      }
      case 'set': {
        const elementType = type.element
        const element = this.compile(elementType)
        return (value) => {
          const set = value as ReadonlySet<Scalar>
          this.int(set.size)
          const renaming = this.renaming
          // Renamed before sorting: the order must be the renamed state's.
          const items = [...set].map((item) => this.renamedScalar(elementType, item)).sort(compareScalars)
          this.renaming = false
          for (const item of items) element(item)
          this.renaming = renaming
        }
      }
      case 'map': {
        const keyType = type.key
        const key = this.compile(keyType)
        const element = this.compile(type.value)
        return (value) => {
          const map = value as ReadonlyMap<Scalar, Value>
          this.int(map.size)
          const renaming = this.renaming
          const entries = [...map].map(([k, v]) => [this.renamedScalar(keyType, k), v] as const).sort(([a], [b]) => {
            const x = keyToString(a)
            const y = keyToString(b)
            return x < y ? -1 : x > y ? 1 : 0
          })
          for (const [k, v] of entries) {
            this.renaming = false
            key(k)
            this.renaming = renaming
            element(v)
          }
        }
      }
      default:
        return () => this.emit(NIL)
    }
  }

  private compileDecoder(type: Type): () => Value {
    switch (type.kind) {
      case 'client_id':
      case 'string':
        return () => this.readString()
      case 'int':
        return () => {
          if (this.buffer[this.position] === NIL) {
            this.position++
            return null
          }
          return this.readInt()
        }
      case 'bool':
        return () => {
          const code = this.buffer[this.position++]!
          return code === NIL ? null : code === 2
        }
      case 'list': {
        const element = this.compileDecoder(type.element)
        return () => {
          const length = this.readInt()
          const items: Value[] = new Array<Value>(length)
          for (let i = 0; i < length; i++) items[i] = element()
          return items
        }
      }
      case 'set': {
        const element = this.compileDecoder(type.element)
        return () => {
          const length = this.readInt()
          const items = new Set<Scalar>()
          for (let i = 0; i < length; i++) items.add(element() as Scalar)
          return items
        }
      }
      case 'map': {
        const key = this.compileDecoder(type.key)
        const element = this.compileDecoder(type.value)
        return () => {
          const length = this.readInt()
          const entries = new Map<Scalar, Value>()
          for (let i = 0; i < length; i++) {
            const k = key() as Scalar
            entries.set(k, element())
          }
          return entries
        }
      }
      default:
        return () => {
          this.position++
          return null
        }
    }
  }
}

/** Every ordering of `items` (Heap's algorithm), the first being `items` itself. */
function* permutations<T>(items: readonly T[]): Generator<readonly T[]> {
  const a = [...items]
  const c = new Array<number>(a.length).fill(0)
  yield a
  let i = 0
  while (i < a.length) {
    if (c[i]! < i) {
      const j = i % 2 === 0 ? 0 : c[i]!
      const t = a[j]!
      a[j] = a[i]!
      a[i] = t
      yield a
      c[i]!++
      i = 0
    } else {
      c[i] = 0
      i++
    }
  }
}

/**
 * A 64-bit fingerprint of `codes[0..length)` as two 32-bit halves
 * (murmur3-style mixing in two lanes). The visited set keeps fingerprints, not states.
 */
export function fingerprint(codes: Uint16Array, length: number, out: Uint32Array): void {
  let h1 = 0x9747b28c ^ length
  let h2 = 0x5bd1e995 ^ length
  for (let i = 0; i < length; i++) {
    let k = Math.imul(codes[i]!, 0xcc9e2d51)
    k = (k << 15) | (k >>> 17)
    k = Math.imul(k, 0x1b873593)
    h1 ^= k
    h1 = (h1 << 13) | (h1 >>> 19)
    h1 = (Math.imul(h1, 5) + 0xe6546b64) | 0
    h2 ^= Math.imul(k, 0x85ebca6b) ^ (k >>> 11)
    h2 = (h2 << 17) | (h2 >>> 15)
    h2 = (Math.imul(h2, 9) + 0x2f4c21a7) | 0
  }
  out[0] = fmix(h1 ^ h2)
  out[1] = fmix(h2 + Math.imul(h1, 0x27d4eb2f))
}

function fmix(h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** A set of 64-bit fingerprints: open addressing (linear probing) in two typed arrays, 8 bytes a slot, at most 70% full. */
export class FingerprintSet {
  private high = new Uint32Array(1 << 16)
  private low = new Uint32Array(1 << 16)
  private mask = (1 << 16) - 1
  /** Fingerprints held. */
  size = 0

  /** Adds a fingerprint; false when it was there already. */
  add(high: number, low: number): boolean {
    // (0, 0) marks an empty slot.
    if (high === 0 && low === 0) low = 1
    let slot = (high ^ Math.imul(low, 0x9e3779b1)) & this.mask
    const highs = this.high
    const lows = this.low
    while (true) {
      const h = highs[slot]!
      const l = lows[slot]!
      if (h === 0 && l === 0) break
      if (h === high && l === low) return false
      slot = (slot + 1) & this.mask
    }
    highs[slot] = high
    lows[slot] = low
    this.size++
    if (this.size > this.mask * 0.7) this.grow()
    return true
  }

  /** Bytes the table takes. */
  get bytes(): number {
    return this.high.byteLength + this.low.byteLength
  }

  private grow(): void {
    const oldHigh = this.high
    const oldLow = this.low
    const capacity = oldHigh.length * 2
    this.high = new Uint32Array(capacity)
    this.low = new Uint32Array(capacity)
    this.mask = capacity - 1
    this.size = 0
    for (let i = 0; i < oldHigh.length; i++) {
      const h = oldHigh[i]!
      const l = oldLow[i]!
      if (h !== 0 || l !== 0) this.add(h, l)
    }
  }
}
