import type { JsonValue } from '@lockstep/interface'
import type { Type } from './types'
import { compareScalars, keyToString, type Scalar, type Value } from './values'

/**
 * The bounds of a DSL machine's summary (`StateMachine.summary`, what a replica's `GET /status` reports). The
 * generated TypeScript inlines the same numbers (emitter-runtime.ts, `$summary`).
 */
export const SummaryLimits = {
  /** Elements shown of each list, set or map: the first ones (lists in order, sets and maps in their JSON order). */
  itemsPerCollection: 20,
  /** Elements shown in all, nested collections included. */
  itemsInAll: 400,
  /** Characters shown of a string or client id; a longer one is cut there and ends with '…'. */
  stringChars: 200,
  /** The most characters of the summary's JSON text. */
  jsonChars: 4096,
} as const

/** What a collection becomes in a summary: its size and its first elements (an object of the first keys for a map). */
export interface CollectionSummary {
  readonly count: number
  readonly items: JsonValue[] | Record<string, JsonValue>
}

interface Budget {
  items: number
}

/** A string as a summary shows it: cut at {@link SummaryLimits.stringChars}. */
function cut(text: string): string {
  return text.length > SummaryLimits.stringChars ? text.slice(0, SummaryLimits.stringChars) + '…' : text
}

/** The `k` smallest of `items` under `compare`, in order: one pass, at most `k` kept (a set may hold a million). */
function smallest<T>(items: Iterable<T>, k: number, compare: (a: T, b: T) => number): T[] {
  const best: T[] = []
  if (k <= 0) return best
  for (const item of items) {
    if (best.length === k && compare(item, best[k - 1]!) >= 0) continue
    let at = best.length
    while (at > 0 && compare(item, best[at - 1]!) < 0) at--
    best.splice(at, 0, item)
    if (best.length > k) best.pop()
  }
  return best
}

function compareKeys(a: Scalar, b: Scalar): number {
  const x = keyToString(a)
  const y = keyToString(b)
  return x < y ? -1 : x > y ? 1 : 0
}

function summarizeValue(value: Value, type: Type, budget: Budget): JsonValue {
  switch (type.kind) {
    case 'list': {
      const list = value as readonly Value[]
      const items: JsonValue[] = []
      for (let i = 0; i < list.length && items.length < SummaryLimits.itemsPerCollection && budget.items > 0; i++) {
        budget.items--
        items.push(summarizeValue(list[i]!, type.element, budget))
      }
      return { count: list.length, items }
    }
    case 'set': {
      const set = value as ReadonlySet<Scalar>
      const first = smallest(set, Math.min(SummaryLimits.itemsPerCollection, budget.items), compareScalars)
      budget.items -= first.length
      return { count: set.size, items: first.map((item) => (typeof item === 'string' ? cut(item) : item)) }
    }
    case 'map': {
      const map = value as ReadonlyMap<Scalar, Value>
      const items: Record<string, JsonValue> = {}
      for (const key of smallest(map.keys(), Math.min(SummaryLimits.itemsPerCollection, budget.items), compareKeys)) {
        if (budget.items <= 0) break
        budget.items--
        const name = cut(keyToString(key))
        setOwn(items, name, summarizeValue(map.get(key)!, type.value, budget))
      }
      return { count: map.size, items }
    }
    default:
      return typeof value === 'string' ? cut(value) : (value as JsonValue)
  }
}

/**
 * A DSL machine's summary: its state variables in declaration order, scalars as they are (Φ as null, client
 * ids and strings cut at 200 characters), each list, set or map as `{ count, items }` with its first 20
 * elements (400 in all, nested ones included). The whole stays within 4096 characters of JSON: past that, the
 * collections lose their items, from the last variable back, then the last variables are left out and
 * `$omitted` says how many. Equal states give equal summaries.
 */
export function summarizeState(vars: readonly (readonly [string, Type])[], values: readonly Value[]): { [name: string]: JsonValue } {
  const budget: Budget = { items: SummaryLimits.itemsInAll }
  const entries = vars.map(([name, type], i) => {
    const summary = summarizeValue(values[i]!, type, budget)
    return { name, type, summary, chars: entryChars(name, summary) }
  })
  // '{' + entries joined by ',' + '}' (+ the $omitted entry).
  const textChars = (omitted: number) =>
    entries.reduce((sum, e) => sum + e.chars, 2 + Math.max(0, entries.length - 1)) + (omitted > 0 ? entryChars('$omitted', omitted) + (entries.length > 0 ? 1 : 0) : 0)
  for (let i = entries.length - 1; i >= 0 && textChars(0) > SummaryLimits.jsonChars; i--) {
    const entry = entries[i]!
    if (entry.type.kind !== 'list' && entry.type.kind !== 'set' && entry.type.kind !== 'map') continue
    const summary: JsonValue = { count: (entry.summary as { count: number }).count, items: entry.type.kind === 'map' ? {} : [] }
    entries[i] = { ...entry, summary, chars: entryChars(entry.name, summary) }
  }
  let omitted = 0
  while (entries.length > 0 && textChars(omitted) > SummaryLimits.jsonChars) {
    entries.pop()
    omitted++
  }
  const out: { [name: string]: JsonValue } = {}
  for (const entry of entries) setOwn(out, entry.name, entry.summary)
  if (omitted > 0) out.$omitted = omitted
  return out
}

/** Sets a property as an own one, even one named `__proto__`. */
function setOwn(target: Record<string, JsonValue>, key: string, value: JsonValue): void {
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
  else target[key] = value
}

function entryChars(name: string, summary: JsonValue): number {
  return JSON.stringify(name).length + 1 + JSON.stringify(summary).length
}
