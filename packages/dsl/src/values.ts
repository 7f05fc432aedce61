import { isScalar, typeToString, type Type } from './types'

/** A scalar value: client ids and strings are strings, ints are numbers, bools are booleans. */
export type Scalar = string | number | boolean

/**
 * A run-time value. `null` is the `Φ` of a scalar type; the `Φ` of a list, set or
 * map is the empty collection. Lists are arrays, sets are `Set`s, maps are `Map`s.
 * Values are immutable: every operation builds a new value.
 */
export type Value = null | Scalar | readonly Value[] | ReadonlySet<Scalar> | ReadonlyMap<Scalar, Value>

/** The reasons a command fails at run time. The interpreter and the generated code use the same words. */
export const Reasons = {
  nilOperand: 'the value is Φ',
  emptyHead: 'head of an empty list',
  emptyTail: 'tail of an empty list',
  divisionByZero: 'division by zero',
  overflow: 'integer overflow (results must stay within ±9007199254740991)',
  sendToNil: 'the recipient is Φ',
  appendNil: 'cannot append Φ to a collection',
  nilKey: 'a map key cannot be Φ',
  missingKeyPrefix: 'the map has no key ',
  tooLarge: 'the value would exceed 1048576 elements or characters',
  noTime: 'the agreed time (ApplyContext.time) is not an integer number of milliseconds',
} as const

/** The most characters a string, or elements a list, set or map, may hold: bigger values abort the command. */
export const MAX_VALUE_SIZE = 1_048_576

/** Where a run-time check sits: what a failure message names. */
export interface Site {
  /** `FILE:LINE:COL`. */
  readonly location: string
  /** The command (or `invariant`). */
  readonly command: string
  /** The failing expression's source text, shortened. */
  readonly snippet: string
  readonly file: string
  readonly line: number
  readonly column: number
  /** True inside a command: the message then says the command was aborted. */
  readonly inCommand: boolean
}

/** The message of a run-time failure at a site. */
export function failureMessage(site: Site, reason: string): string {
  const suffix = site.inCommand ? '; the command was aborted and the state is unchanged' : ''
  return `${site.location}: ${site.command} failed: ${reason} in '${site.snippet}'${suffix}`
}

/** Shortens source text for a message: one line, at most 60 characters. */
export function snippetOf(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim()
  return flat.length > 60 ? flat.slice(0, 57) + '...' : flat
}

/** Orders scalars canonically: numbers by value, strings by UTF-16 code units, false before true. */
export function compareScalars(a: Scalar, b: Scalar): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b
  const x = String(a)
  const y = String(b)
  return x < y ? -1 : x > y ? 1 : 0
}

/** Deep equality of two values of the same type. */
export function valueEquals(a: Value, b: Value): boolean {
  if (a === b) return true
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false
  if (Array.isArray(a)) {
    const other = b as readonly Value[]
    if (!Array.isArray(other) || a.length !== other.length) return false
    for (let i = 0; i < a.length; i++) if (!valueEquals(a[i] as Value, other[i] as Value)) return false
    return true
  }
  if (a instanceof Set) {
    const other = b as ReadonlySet<Scalar>
    if (!(other instanceof Set) || a.size !== other.size) return false
    for (const item of a) if (!other.has(item)) return false
    return true
  }
  const map = a as ReadonlyMap<Scalar, Value>
  const other = b as ReadonlyMap<Scalar, Value>
  if (!(other instanceof Map) || map.size !== other.size) return false
  for (const [key, value] of map) {
    if (!other.has(key) || !valueEquals(value, other.get(key) as Value)) return false
  }
  return true
}

/** True for `Φ`: null, or an empty collection. */
export function isEmptyValue(value: Value): boolean {
  if (value === null) return true
  if (typeof value !== 'object') return false
  if (Array.isArray(value)) return value.length === 0
  return (value as ReadonlySet<Scalar>).size === 0
}

/** The `Φ` of a type: null for scalars, an empty collection otherwise. */
export function emptyValue(type: Type): Value {
  switch (type.kind) {
    case 'list':
      return []
    case 'set':
      return new Set()
    case 'map':
      return new Map()
    default:
      return null
  }
}

/** A map key as a JSON object key. */
export function keyToString(key: Scalar): string {
  return typeof key === 'string' ? key : String(key)
}

/** Sets a property safely, even one named `__proto__`. */
function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
  else target[key] = value
}

/** A value as plain JSON: lists as arrays, sets as sorted arrays, maps as objects with sorted keys, `Φ` as null. */
export function toJson(value: Value, type: Type): unknown {
  switch (type.kind) {
    case 'list': {
      const element = (type as { element: Type }).element
      return (value as readonly Value[]).map((item) => toJson(item, element))
    }
    case 'set':
      return [...(value as ReadonlySet<Scalar>)].sort(compareScalars)
    case 'map': {
      const valueType = (type as { value: Type }).value
      const entries = [...(value as ReadonlyMap<Scalar, Value>)].sort(([a], [b]) => compareKeyStrings(a, b))
      const out: Record<string, unknown> = {}
      for (const [key, item] of entries) setOwn(out, keyToString(key), toJson(item, valueType))
      return out
    }
    default:
      return value
  }
}

function compareKeyStrings(a: Scalar, b: Scalar): number {
  const x = keyToString(a)
  const y = keyToString(b)
  return x < y ? -1 : x > y ? 1 : 0
}

/**
 * Canonical JSON text of a value: the same text as `JSON.stringify` of
 * {@link toJson}, except that object keys are always in code-unit order. Equal
 * values give equal text.
 */
export function encodeValue(value: Value, type: Type): string {
  switch (type.kind) {
    case 'list': {
      const element = (type as { element: Type }).element
      const items = value as readonly Value[]
      let out = '['
      for (let i = 0; i < items.length; i++) {
        if (i > 0) out += ','
        out += encodeValue(items[i] as Value, element)
      }
      return out + ']'
    }
    case 'set': {
      const items = [...(value as ReadonlySet<Scalar>)].sort(compareScalars)
      return '[' + items.map((item) => (typeof item === 'string' ? quote(item) : JSON.stringify(item))).join(',') + ']'
    }
    case 'map': {
      const valueType = (type as { value: Type }).value
      const entries = [...(value as ReadonlyMap<Scalar, Value>)].sort(([a], [b]) => compareKeyStrings(a, b))
      return '{' + entries.map(([key, item]) => quote(keyToString(key)) + ':' + encodeValue(item, valueType)).join(',') + '}'
    }
    default:
      return value === null ? 'null' : JSON.stringify(value)
  }
}

const quoted = new Map<string, string>()

/** `JSON.stringify` of a string, cached: states repeat the same few client ids and keys. */
export function quote(text: string): string {
  let out = quoted.get(text)
  if (out === undefined) {
    out = JSON.stringify(text)
    if (quoted.size >= 4096) quoted.clear()
    if (text.length <= 64) quoted.set(text, out)
  }
  return out
}

/** An encoder specialized to one type: the same text as {@link encodeValue}, faster. */
export function compileEncoder(type: Type): (value: Value) => string {
  switch (type.kind) {
    case 'client_id':
    case 'string':
      return (value) => (value === null ? 'null' : quote(value as string))
    case 'int':
      return (value) => (value === null ? 'null' : String(value))
    case 'bool':
      return (value) => (value === null ? 'null' : value ? 'true' : 'false')
    case 'list': {
      const element = compileEncoder(type.element)
      return (value) => {
        const items = value as readonly Value[]
        if (items.length === 0) return '[]'
        let out = '[' + element(items[0]!)
        for (let i = 1; i < items.length; i++) out += ',' + element(items[i]!)
        return out + ']'
      }
    }
    default:
      return (value) => encodeValue(value, type)
  }
}

/** Canonical JSON text of any JSON value: object keys sorted by code units. */
export function canonicalJsonText(json: unknown): string {
  if (json === null || typeof json !== 'object') return JSON.stringify(json) ?? 'null'
  if (Array.isArray(json)) return '[' + json.map(canonicalJsonText).join(',') + ']'
  const record = json as Record<string, unknown>
  const keys = Object.keys(record).sort()
  return '{' + keys.map((key) => JSON.stringify(key) + ':' + canonicalJsonText(record[key])).join(',') + '}'
}

/** Why a JSON value does not fit a DSL type. */
export class ConversionError extends Error {
  readonly path: string
  constructor(path: string, message: string) {
    super(message)
    this.path = path
  }
}

/** Integer map keys in JSON: decimal, no leading zeros, at most 16 digits and within ±2^53 (the schema's INT_KEY_PATTERN). */
const intKeyPattern = /^(0|-?[1-9][0-9]{0,15})$/

/**
 * Converts JSON to a value of `type`, checking it fits. `nullable` allows null
 * for a scalar (`Φ`); list elements, set elements, map keys and map values are
 * never `Φ`. Throws {@link ConversionError} naming the path of the bad part.
 */
export function fromJson(json: unknown, type: Type, path: string, nullable: boolean): Value {
  const fail = (expected: string): never => {
    throw new ConversionError(path, `${path || 'value'} must be ${expected}, got ${describeJson(json)}`)
  }
  if (json === null && nullable && isScalar(type)) return null
  switch (type.kind) {
    case 'client_id':
      if (typeof json !== 'string' || json.length === 0) fail('a client id (a non-empty string)')
      return json as string
    case 'string':
      if (typeof json !== 'string') fail('a string')
      return json as string
    case 'int':
      if (typeof json !== 'number' || !Number.isSafeInteger(json)) fail('an integer within ±9007199254740991')
      return (json as number) === 0 ? 0 : (json as number)
    case 'bool':
      if (typeof json !== 'boolean') fail('a boolean')
      return json as boolean
    case 'list': {
      if (!Array.isArray(json)) fail(`an array (${typeToString(type)})`)
      return (json as unknown[]).map((item, i) => fromJson(item, type.element, `${path}/${i}`, false))
    }
    case 'set': {
      if (!Array.isArray(json)) fail(`an array (${typeToString(type)})`)
      const out = new Set<Scalar>()
      ;(json as unknown[]).forEach((item, i) => {
        const value = fromJson(item, type.element, `${path}/${i}`, false) as Scalar
        if (out.has(value)) throw new ConversionError(`${path}/${i}`, `${path}/${i} repeats ${JSON.stringify(value)}; a set holds each value once`)
        out.add(value)
      })
      return out
    }
    case 'map': {
      if (json === null || typeof json !== 'object' || Array.isArray(json)) fail(`an object (${typeToString(type)})`)
      const out = new Map<Scalar, Value>()
      for (const key of Object.keys(json as object)) {
        const keyPath = `${path}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`
        out.set(keyFromString(key, type.key, keyPath), fromJson((json as Record<string, unknown>)[key], type.value, keyPath, false))
      }
      return out
    }
    default:
      return fail('a value of a known type')
  }
}

/** Parses a JSON object key back into a map key of `keyType`. */
export function keyFromString(key: string, keyType: Type, path: string): Scalar {
  switch (keyType.kind) {
    case 'int': {
      const value = Number(key)
      if (!intKeyPattern.test(key) || !Number.isSafeInteger(value)) throw new ConversionError(path, `key '${key}' at ${path} must be an integer within ±9007199254740991`)
      return value
    }
    case 'bool':
      if (key !== 'true' && key !== 'false') throw new ConversionError(path, `key '${key}' at ${path} must be true or false`)
      return key === 'true'
    case 'client_id':
      if (key.length === 0) throw new ConversionError(path, `key at ${path} must be a non-empty client id`)
      return key
    default:
      return key
  }
}

function describeJson(json: unknown): string {
  if (json === undefined) return 'nothing'
  if (json === null) return 'null'
  if (Array.isArray(json)) return 'an array'
  if (typeof json === 'object') return 'an object'
  const text = JSON.stringify(json)
  return `${typeof json} ${text.length > 40 ? text.slice(0, 37) + '...' : text}`
}
