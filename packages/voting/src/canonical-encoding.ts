import { createHash } from 'node:crypto'
import { ErrorCodes, LockstepError } from '@lockstep/interface'

/**
 * The tag byte in front of every encoded value. The format is documented in the README ("The canonical
 * encoding") so that readers in other languages can compute the same digests; never renumber a tag.
 */
const Tag = {
  undefined: 0x00,
  null: 0x01,
  false: 0x02,
  true: 0x03,
  number: 0x04,
  bigint: 0x05,
  string: 0x06,
  bytes: 0x07,
  array: 0x08,
  object: 0x09,
  date: 0x0a,
} as const

const supported = 'undefined, null, booleans, numbers, bigints, strings, Uint8Array (Buffer), Date, arrays and plain objects'

/** A lone UTF-16 surrogate: with the `u` flag a paired surrogate is one code point and does not match. */
const loneSurrogate = /[\uD800-\uDFFF]/u

/** Collects the encoding's pieces; one copy at the end. */
class ByteWriter {
  private readonly chunks: Uint8Array[] = []
  private size = 0

  byte(tag: number): void {
    this.push(Uint8Array.of(tag))
  }

  uint32(value: number): void {
    const bytes = Buffer.alloc(4)
    bytes.writeUInt32BE(value)
    this.push(bytes)
  }

  float64(value: number): void {
    const bytes = Buffer.alloc(8)
    // One encoding per number: -0 is 0, and every NaN is the one quiet NaN (JavaScript NaNs may carry payloads).
    if (Number.isNaN(value)) bytes.writeUInt32BE(0x7ff80000, 0)
    else bytes.writeDoubleBE(value === 0 ? 0 : value)
    this.push(bytes)
  }

  /** A length-prefixed byte string. */
  lengthPrefixed(bytes: Uint8Array): void {
    this.uint32(bytes.length)
    this.push(bytes)
  }

  finish(): Uint8Array {
    return Buffer.concat(this.chunks, this.size)
  }

  private push(bytes: Uint8Array): void {
    this.chunks.push(bytes)
    this.size += bytes.length
  }
}

function unsupported(path: string, what: string): LockstepError {
  return new LockstepError(
    ErrorCodes.INVALID_ARGUMENT,
    `canonicalEncode: the value at '${path === '' ? '/' : path}' is ${what}; only ${supported} have a canonical encoding`,
    { path: path === '' ? '/' : path },
  )
}

function describe(value: object): string {
  const name = (Object.getPrototypeOf(value) as { constructor?: { name?: unknown } } | null)?.constructor?.name
  return typeof name === 'string' && name !== '' ? `a ${name}` : 'an object with a prototype'
}

/** A plain object: `{}` or `Object.create(null)`, also from another realm (its prototype's prototype is null). */
function isPlainObject(value: object): boolean {
  const prototype: unknown = Object.getPrototypeOf(value)
  return prototype === null || Object.getPrototypeOf(prototype) === null
}

function utf8(text: string, path: string): Uint8Array {
  // A lone surrogate has no UTF-8 form: encoding it would silently turn it into U+FFFD and make two
  // different strings equal.
  if (loneSurrogate.test(text)) throw unsupported(path, 'a string with a lone UTF-16 surrogate')
  return Buffer.from(text, 'utf8')
}

/** JSON Pointer escaping of one path segment. */
function segment(key: string | number): string {
  return `/${String(key).replace(/~/g, '~0').replace(/\//g, '~1')}`
}

function encodeInto(writer: ByteWriter, value: unknown, path: string, inProgress: Set<object>): void {
  switch (typeof value) {
    case 'undefined':
      writer.byte(Tag.undefined)
      return
    case 'boolean':
      writer.byte(value ? Tag.true : Tag.false)
      return
    case 'number':
      writer.byte(Tag.number)
      writer.float64(value)
      return
    case 'bigint':
      writer.byte(Tag.bigint)
      writer.lengthPrefixed(Buffer.from(value.toString(10), 'ascii'))
      return
    case 'string':
      writer.byte(Tag.string)
      writer.lengthPrefixed(utf8(value, path))
      return
    case 'symbol':
      throw unsupported(path, 'a symbol')
    case 'function':
      throw unsupported(path, 'a function')
  }
  if (value === null) {
    writer.byte(Tag.null)
    return
  }
  const object = value as object
  if (object instanceof Uint8Array) {
    writer.byte(Tag.bytes)
    writer.lengthPrefixed(object)
    return
  }
  if (object instanceof Date) {
    writer.byte(Tag.date)
    writer.float64(object.getTime())
    return
  }
  if (inProgress.has(object)) throw unsupported(path, 'a reference to one of its own containers (a cycle)')
  inProgress.add(object)
  if (Array.isArray(object)) {
    writer.byte(Tag.array)
    writer.uint32(object.length)
    // By index: a hole is undefined, as it reads.
    for (let i = 0; i < object.length; i++) encodeInto(writer, (object as unknown[])[i], path + segment(i), inProgress)
  } else if (isPlainObject(object)) {
    if (Object.getOwnPropertySymbols(object).some((key) => Object.prototype.propertyIsEnumerable.call(object, key))) {
      throw unsupported(path, 'an object with symbol keys')
    }
    const record = object as Record<string, unknown>
    // A property whose value is undefined is the same as a missing one (as in JSON), whatever the transport kept.
    // Keys in UTF-16 code unit order (JavaScript's default sort), independent of insertion order.
    const keys = Object.keys(record).filter((key) => record[key] !== undefined).sort()
    writer.byte(Tag.object)
    writer.uint32(keys.length)
    for (const key of keys) {
      writer.lengthPrefixed(utf8(key, path + segment(key)))
      encodeInto(writer, record[key], path + segment(key), inProgress)
    }
  } else {
    throw unsupported(path, describe(object))
  }
  inProgress.delete(object)
}

/**
 * The canonical encoding of a value: equal values (as a client would compare them, ignoring the order of an
 * object's keys) give equal bytes, different values different bytes. -0 encodes as 0, every NaN alike, a property
 * holding `undefined` like a missing one, a Buffer like a Uint8Array with the same bytes.
 * Throws `INVALID_ARGUMENT` (with the JSON path) for a value with no canonical encoding: a Map, a Set, a class
 * instance, a function, a symbol, a cycle, a string with a lone surrogate. Every value the TCP transport decodes
 * has one.
 */
export function canonicalEncode(value: unknown): Uint8Array {
  const writer = new ByteWriter()
  try {
    encodeInto(writer, value, '', new Set())
  } catch (error) {
    if (error instanceof RangeError) {
      throw new LockstepError(ErrorCodes.INVALID_ARGUMENT, `canonicalEncode: the value is nested too deeply or too large to encode (${error.message})`, undefined, { cause: error })
    }
    throw error
  }
  return writer.finish()
}

/** The SHA-256 of a value's {@link canonicalEncode canonical encoding}, as 64 lowercase hex digits. */
export function digestOf(value: unknown): string {
  return createHash('sha256').update(canonicalEncode(value)).digest('hex')
}

/** True for a string that can be a {@link digestOf} result: 64 lowercase hex digits. */
export function isDigest(value: unknown): value is string {
  return typeof value === 'string' && /^[0-9a-f]{64}$/.test(value)
}
