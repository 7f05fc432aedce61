import type { CheckedProgram } from './checker'
import type { Type } from './types'
import { compareScalars, keyToString, type Scalar, type Value } from './values'

/** Largest number that fits one UTF-16 unit below the surrogates (minus the Φ and escape codes). */
const SMALL_LIMIT = 0xd000 - 2
const NIL = '\u0000'
const ESCAPE = '\uffff'
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
 * State keys for the model checker's visited set, canonical under symmetry:
 * two states that differ only by a permutation of the interchangeable client
 * ids get the same key (and states that differ otherwise different keys).
 *
 * The canonical form renames the clients: clients that must stay in place
 * (`fixed`: named by a property or an argument domain) keep their names; the
 * others are named, in order, by where they first appear in the parts of the
 * state whose order does not depend on client names (scalars and lists, in
 * declaration order). Clients that appear only in sets of client ids or maps
 * keyed by them get the names that give the smallest key (every assignment is
 * tried when at most six are left). Any renaming gives a sound reduction (a
 * renamed state is a state of the same orbit); the canonical one gives the most.
 */
export class CanonicalKeys {
  private readonly interned = new Map<string, string>()
  private readonly encoders: readonly ((value: Value) => string)[]
  private readonly collectors: readonly (((value: Value) => void) | undefined)[]
  private readonly unordered: boolean
  /** The client ids that may be renamed, and the names they may get, in order. */
  private readonly freeNames: readonly string[]
  private readonly free: ReadonlySet<string>
  private readonly rename = new Map<string, string>()
  /** Interchangeable clients, when symmetry is on. */
  readonly symmetric: boolean

  constructor(program: CheckedProgram, clients: readonly string[], fixed: ReadonlySet<string> | undefined) {
    this.freeNames = fixed === undefined ? [] : clients.filter((c) => !fixed.has(c))
    this.free = new Set(this.freeNames)
    this.symmetric = this.freeNames.length >= 2 && program.vars.some((v) => containsClient(v.type))
    this.encoders = program.vars.map((v) => this.compile(v.type))
    this.collectors = program.vars.map((v) => this.compileCollector(v.type))
    this.unordered = program.vars.some((v) => hasUnorderedClients(v.type))
  }

  /** The key of a state (values in declaration order). */
  key(state: readonly Value[]): string {
    const rename = this.rename
    rename.clear()
    if (!this.symmetric) return this.encode(state)
    for (let i = 0; i < this.collectors.length; i++) this.collectors[i]?.(state[i]!)
    const placed = rename.size
    const left = this.freeNames.length - placed
    if (!this.unordered || left < 2) {
      if (left > 0) this.placeRest(placed)
      return this.encode(state)
    }
    const rest = this.freeNames.filter((c) => !rename.has(c))
    if (rest.length > MAX_PERMUTED) {
      this.placeRest(placed)
      return this.encode(state)
    }
    let best: string | undefined
    for (const order of permutations(rest)) {
      order.forEach((client, i) => rename.set(client, this.freeNames[placed + i]!))
      const key = this.encode(state)
      if (best === undefined || key < best) best = key
    }
    return best!
  }

  private placeRest(placed: number): void {
    let next = placed
    for (const client of this.freeNames) if (!this.rename.has(client)) this.rename.set(client, this.freeNames[next++]!)
  }

  private encode(state: readonly Value[]): string {
    let out = ''
    for (let i = 0; i < this.encoders.length; i++) out += this.encoders[i]!(state[i]!)
    return out
  }

  private renamed(client: string): string {
    return this.rename.get(client) ?? client
  }

  private text(value: string): string {
    let code = this.interned.get(value)
    if (code === undefined) {
      code = this.interned.size < SMALL_LIMIT ? String.fromCharCode(1 + this.interned.size) : ESCAPE + JSON.stringify(value)
      if (this.interned.size < SMALL_LIMIT) this.interned.set(value, code)
    }
    return code
  }

  /** Records the first appearance of each renameable client in the name-independent parts of a value. */
  private compileCollector(type: Type): ((value: Value) => void) | undefined {
    if (!containsClient(type)) return undefined
    const rename = this.rename
    const free = this.free
    const names = this.freeNames
    switch (type.kind) {
      case 'client_id':
        return (value) => {
          if (value !== null && free.has(value as string) && !rename.has(value as string)) rename.set(value as string, names[rename.size]!)
        }
      case 'list': {
        const element = this.compileCollector(type.element)!
        return (value) => {
          for (const item of value as readonly Value[]) element(item)
        }
      }
      case 'map': {
        if (type.key.kind === 'client_id') return undefined
        const element = this.compileCollector(type.value)!
        return (value) => {
          const entries = [...(value as ReadonlyMap<Scalar, Value>)].sort(([a], [b]) => compareScalars(a, b))
          for (const [, item] of entries) element(item)
        }
      }
      default:
        return undefined
    }
  }

  private compile(type: Type): (value: Value) => string {
    const int = (n: number): string => (n >= 0 && n < SMALL_LIMIT ? String.fromCharCode(1 + n) : `${ESCAPE}${n};`)
    switch (type.kind) {
      case 'client_id':
        return (value) => (value === null ? NIL : this.text(this.renamed(value as string)))
      case 'string':
        return (value) => (value === null ? NIL : this.text(value as string))
      case 'int':
        return (value) => (value === null ? NIL : int(value as number))
      case 'bool':
        return (value) => (value === null ? NIL : value ? '\u0002' : '\u0001')
      case 'list': {
        const element = this.compile(type.element)
        return (value) => {
          const items = value as readonly Value[]
          let out = int(items.length)
          for (let i = 0; i < items.length; i++) out += element(items[i]!)
          return out
        }
      }
      case 'set': {
        const element = this.compile(type.element)
        const clients = type.element.kind === 'client_id'
        return (value) => {
          const set = value as ReadonlySet<Scalar>
          const items = clients ? [...set].map((c) => this.renamed(c as string)).sort(compareScalars) : [...set].sort(compareScalars)
          let out = int(items.length)
          // Renamed already: encode without renaming again.
          for (const item of items) out += clients ? this.text(item as string) : element(item)
          return out
        }
      }
      case 'map': {
        const key = this.compile(type.key)
        const element = this.compile(type.value)
        const clients = type.key.kind === 'client_id'
        return (value) => {
          const entries = [...(value as ReadonlyMap<Scalar, Value>)].map(([k, v]) => [clients ? this.renamed(k as string) : k, v] as const).sort(([a], [b]) => {
            const x = keyToString(a)
            const y = keyToString(b)
            return x < y ? -1 : x > y ? 1 : 0
          })
          let out = int(entries.length)
          for (const [k, v] of entries) out += (clients ? this.text(k as string) : key(k)) + element(v)
          return out
        }
      }
      default:
        return () => NIL
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
 * A 64-bit fingerprint of a key as two 32-bit halves (murmur3-style mixing in
 * two independent lanes). The visited set keeps fingerprints, not states.
 */
export function fingerprint(key: string, out: Uint32Array): void {
  let h1 = 0x9747b28c ^ key.length
  let h2 = 0x5bd1e995 ^ key.length
  for (let i = 0; i < key.length; i++) {
    let k = Math.imul(key.charCodeAt(i), 0xcc9e2d51)
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

/** A set of 64-bit fingerprints: open addressing in two typed arrays (8 bytes a slot, at most half full). */
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
    if (this.size * 2 > this.mask) this.grow()
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
