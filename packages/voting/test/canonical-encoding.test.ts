import { createHash } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { canonicalEncode, digestOf } from '../src/index'

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex')
const same = (a: unknown, b: unknown) => expect(hex(canonicalEncode(a))).toBe(hex(canonicalEncode(b)))
const differ = (a: unknown, b: unknown) => expect(hex(canonicalEncode(a))).not.toBe(hex(canonicalEncode(b)))

/** The same value with every object's keys in another (reversed) insertion order. */
function reverseKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reverseKeys)
  if (typeof value === 'object' && value !== null && !(value instanceof Uint8Array)) {
    return Object.fromEntries(Object.entries(value).reverse().map(([key, inner]) => [key, reverseKeys(inner)]))
  }
  return value
}

/** A reference text for JSON values: sorted keys, -0 as 0. Two values are equal exactly when these are. */
function referenceText(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(referenceText).join(',')}]`
  if (typeof value === 'object' && value !== null) {
    const record = value as Record<string, unknown>
    return `{${Object.keys(record).sort().map((key) => `${JSON.stringify(key)}:${referenceText(record[key])}`).join(',')}}`
  }
  if (typeof value === 'number' && Object.is(value, -0)) return '0'
  return JSON.stringify(value)
}

describe('canonicalEncode', () => {
  it('does not depend on the order of an object\'s keys', () => {
    same({ a: 1, b: { c: [1, 2], d: 'x' } }, { b: { d: 'x', c: [1, 2] }, a: 1 })
    fc.assert(fc.property(fc.jsonValue(), (value) => {
      expect(hex(canonicalEncode(reverseKeys(value)))).toBe(hex(canonicalEncode(value)))
    }), { seed: 13, numRuns: 500 })
  })

  it('gives different values different bytes (JSON values, against a reference)', () => {
    fc.assert(fc.property(fc.jsonValue({ maxDepth: 3 }), fc.jsonValue({ maxDepth: 3 }), (a, b) => {
      expect(hex(canonicalEncode(a)) === hex(canonicalEncode(b))).toBe(referenceText(a) === referenceText(b))
    }), { seed: 14, numRuns: 500 })
  })

  it('keeps arrays in order', () => {
    differ([1, 2], [2, 1])
  })

  it('normalises numbers: -0 is 0, every NaN alike, distinct from null', () => {
    same(-0, 0)
    same({ x: -0 }, { x: 0 })
    const otherNaN = new Float64Array(new BigUint64Array([0x7ff8000000000001n]).buffer)[0]!
    expect(Number.isNaN(otherNaN)).toBe(true)
    same(otherNaN, Number.NaN)
    differ(Number.NaN, null)
    differ(Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY)
    differ(1, 1.0000000000000002)
  })

  it('treats a property holding undefined as a missing one, but keeps undefined in arrays and at the top', () => {
    same({ a: 1, b: undefined }, { a: 1 })
    differ([undefined], [null])
    differ([undefined], [])
    // eslint-disable-next-line no-sparse-arrays
    same([1, , 3], [1, undefined, 3])
    differ(undefined, null)
  })

  it('encodes bytes: a Buffer like a Uint8Array with the same bytes, distinct from a string or an array', () => {
    same(Buffer.from([1, 2, 3]), Uint8Array.of(1, 2, 3))
    same({ data: Buffer.from('hi') }, { data: new TextEncoder().encode('hi') })
    differ(Uint8Array.of(1, 2, 3), [1, 2, 3])
    differ(Buffer.from('hi'), 'hi')
  })

  it('keeps types apart: strings, numbers, bigints, booleans, dates, arrays, objects', () => {
    differ('1', 1)
    differ(1, 1n)
    differ(true, 1)
    differ([], {})
    differ(new Date(5), 5)
    same(new Date(5), new Date(5))
    differ({ a: 'b' }, ['a', 'b'])
    // Length prefixes: no two sequences of strings run together.
    differ(['ab', 'c'], ['a', 'bc'])
    differ({ ab: 'c' }, { a: 'bc' })
  })

  it('allows a value shared twice (not a cycle)', () => {
    const shared = { x: 1 }
    same({ a: shared, b: shared }, { a: { x: 1 }, b: { x: 1 } })
  })

  it('writes the documented format (pinned bytes: the README describes them to readers in other languages)', () => {
    expect(hex(canonicalEncode({ b: [true, null], a: 'é' }))).toBe(
      '09' + '00000002' + // object, 2 properties, keys sorted
        '00000001' + '61' + '06' + '00000002' + 'c3a9' + // "a": string "é" (UTF-8)
        '00000001' + '62' + '08' + '00000002' + '03' + '01', // "b": array of 2: true, null
    )
    expect(hex(canonicalEncode(1))).toBe('04' + '3ff0000000000000')
    expect(hex(canonicalEncode(Number.NaN))).toBe('04' + '7ff8000000000000')
    expect(hex(canonicalEncode(-12n))).toBe('05' + '00000003' + '2d3132')
    expect(hex(canonicalEncode(Uint8Array.of(255)))).toBe('07' + '00000001' + 'ff')
    expect(hex(canonicalEncode(undefined))).toBe('00')
    expect(hex(canonicalEncode(false))).toBe('02')
    expect(hex(canonicalEncode(new Date(0)))).toBe('0a' + '0000000000000000')
  })

  it.each([
    ['a Map', { at: [new Map()] }, '/at/0', 'a Map'],
    ['a Set', new Set([1]), '/', 'a Set'],
    ['a class instance', { x: new (class Point { y = 1 })() }, '/x', 'a Point'],
    ['a function', { f: () => 1 }, '/f', 'a function'],
    ['a symbol', [Symbol('s')], '/0', 'a symbol'],
    ['a typed array other than Uint8Array', { u: new Uint16Array(2) }, '/u', 'a Uint16Array'],
    ['a lone surrogate', { s: 'a\uD800b' }, '/s', 'lone UTF-16 surrogate'],
    ['a lone surrogate in a key', { ['k\uDC00']: 1 }, '/k\uDC00', 'lone UTF-16 surrogate'],
    ['symbol keys', { [Symbol('k')]: 1 }, '/', 'symbol keys'],
  ])('refuses %s with INVALID_ARGUMENT and the path', (_name, value, path, what) => {
    let thrown: unknown
    try {
      canonicalEncode(value)
    } catch (error) {
      thrown = error
    }
    expect(thrown).toMatchObject({ code: 'INVALID_ARGUMENT', details: { path } })
    expect((thrown as Error).message).toContain(what)
    expect((thrown as Error).message).toContain(`'${path}'`)
  })

  it('refuses a cycle', () => {
    const cyclic: Record<string, unknown> = { a: [] }
    ;(cyclic.a as unknown[]).push(cyclic)
    expect(() => canonicalEncode(cyclic)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringContaining("'/a/0' is a reference to one of its own containers (a cycle)") }))
  })

  it('accepts a paired surrogate (an astral character)', () => {
    expect(hex(canonicalEncode('😀'))).toBe('06' + '00000004' + 'f09f9880')
  })
})

describe('digestOf', () => {
  it('is the SHA-256 of the canonical encoding, in lowercase hex', () => {
    const value = { reply: [1, 'two', { three: 3 }] }
    expect(digestOf(value)).toBe(createHash('sha256').update(canonicalEncode(value)).digest('hex'))
    expect(digestOf(value)).toMatch(/^[0-9a-f]{64}$/)
  })

  it('is equal for equal values whatever their key order, and differs otherwise', () => {
    expect(digestOf({ a: 1, b: 2 })).toBe(digestOf({ b: 2, a: 1 }))
    expect(digestOf({ a: 1, b: 2 })).not.toBe(digestOf({ a: 1, b: 3 }))
  })
})
