/**
 * FNV-1a 64-bit, fed piece by piece: hashing pieces one after another gives the digest of their
 * concatenation, so a large image is hashed as it streams, never whole.
 */
export class Fnv1a64 {
  // The state as two 32-bit halves held as signed int32 (`| 0`): `Math.imul` keeps every step in 32-bit integers.
  // Offset basis 0xcbf29ce484222325.
  /** @internal */ lo = 0x84222325 | 0
  /** @internal */ hi = 0xcbf29ce4 | 0

  /** Hashes `bytes` (its first `length`) after everything hashed before. */
  update(bytes: Uint8Array, length = bytes.length): this {
    let lo = this.lo
    let hi = this.hi
    for (let i = 0; i < length; i++) {
      lo ^= bytes[i]!
      // Multiply by the FNV prime 0x100000001b3 = 2^40 + 0x1b3, modulo 2^64: the low half is lo * 0x1b3's low 32
      // bits; the high half gains hi * 0x1b3, lo << 8 (the 2^40 term) and the carry of lo * 0x1b3 above 32 bits.
      const carry = ((lo >>> 16) * 0x1b3 + (((lo & 0xffff) * 0x1b3) >>> 16)) >>> 16
      hi = (Math.imul(hi, 0x1b3) + (lo << 8) + carry) | 0
      lo = Math.imul(lo, 0x1b3)
    }
    this.lo = lo
    this.hi = hi
    return this
  }

  /**
   * Hashes the UTF-8 bytes of `text` after everything hashed before, without encoding it first while it is
   * ASCII (the order digest hashes a short string per delivered request: encoding it was a fifth of the
   * in-process CPU profile).
   */
  updateText(text: string): this {
    if (textBytes.length < text.length) textBytes = new Uint8Array(Math.max(text.length, 2 * textBytes.length))
    let i = 0
    for (; i < text.length; i++) {
      const code = text.charCodeAt(i)
      if (code >= 0x80) break
      textBytes[i] = code
    }
    this.update(textBytes, i)
    // The rest from the first non-ASCII character on: its UTF-8 bytes follow the ASCII ones unchanged.
    return i < text.length ? this.update(textEncoder.encode(text.slice(i))) : this
  }

  /** Starts over (the offset basis), for reuse without allocating. */
  reset(): this {
    this.lo = 0x84222325 | 0
    this.hi = 0xcbf29ce4 | 0
    return this
  }

  /** The digest of everything hashed so far, as 16 hex digits. */
  digest(): string {
    return hex16(this.hi, this.lo)
  }
}

const textEncoder = new TextEncoder()
/** Scratch space for the ASCII bytes of a text being hashed (grown as needed), and for a digest's 16 hex digits. */
let textBytes = new Uint8Array(256)
const hexBytes = new Uint8Array(16)

const HEX_CODES = Array.from('0123456789abcdef', (c) => c.charCodeAt(0))

/**
 * The 16 hex digits of a digest's halves (signed or not), as one flat string: made at every delivery (the order
 * digest each replica keeps per position), where eight joined pairs made seven strings to be flattened later.
 */
function hex16(hi: number, lo: number): string {
  const c = HEX_CODES
  return String.fromCharCode(
    c[(hi >>> 28) & 15]!, c[(hi >>> 24) & 15]!, c[(hi >>> 20) & 15]!, c[(hi >>> 16) & 15]!, c[(hi >>> 12) & 15]!, c[(hi >>> 8) & 15]!, c[(hi >>> 4) & 15]!, c[hi & 15]!,
    c[(lo >>> 28) & 15]!, c[(lo >>> 24) & 15]!, c[(lo >>> 20) & 15]!, c[(lo >>> 16) & 15]!, c[(lo >>> 12) & 15]!, c[(lo >>> 8) & 15]!, c[(lo >>> 4) & 15]!, c[lo & 15]!,
  )
}

const BAR = '|'.charCodeAt(0)
const AT = '@'.charCodeAt(0)
const ZERO = '0'.charCodeAt(0)
/** Decimal digits of the largest safe integer. */
const MAX_DIGITS = 16
/** The hasher `extendDelivery` reuses. */
const scratchHasher = new Fnv1a64()

/** True for a number whose `String()` is its plain decimal digits (a non-negative safe integer). */
function isDigitable(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0
}

/** Writes the decimal digits of `n` (see `isDigitable`) at `at`; returns the index after them. */
function writeDigits(bytes: Uint8Array, at: number, n: number): number {
  if (n <= 0x7fffffff) return writeSmallDigits(bytes, at, n, 0)
  // Above 2^31 (incarnations and entry times are clock readings): the digits above the last eight, then those eight,
  // in 32-bit steps.
  const high = Math.floor(n / 1e8)
  at = writeSmallDigits(bytes, at, high, 0)
  return writeSmallDigits(bytes, at, n - high * 1e8, 8)
}

/** Writes the decimal digits of `n` (0 to 2^31 - 1), with leading zeros up to `width` digits. */
function writeSmallDigits(bytes: Uint8Array, at: number, n: number, width: number): number {
  let digits = decimalDigits(n)
  if (digits < width) digits = width
  let rest = n | 0
  let i = at + digits - 1
  // Two digits per step, from a table of the pairs 00–99.
  for (; i > at; i -= 2) {
    const hundredth = (rest / 100) | 0
    const pair = 2 * (rest - hundredth * 100)
    bytes[i] = DIGIT_PAIRS[pair + 1]!
    bytes[i - 1] = DIGIT_PAIRS[pair]!
    rest = hundredth
  }
  if (i === at) bytes[i] = ZERO + rest
  return at + digits
}

/** How many decimal digits `n` (0 to 2^31 - 1) has. */
function decimalDigits(n: number): number {
  if (n < 100_000) return n < 100 ? (n < 10 ? 1 : 2) : n < 1_000 ? 3 : n < 10_000 ? 4 : 5
  return n < 10_000_000 ? (n < 1_000_000 ? 6 : 7) : n < 100_000_000 ? 8 : n < 1_000_000_000 ? 9 : 10
}

/** The character codes of the two-digit numbers 00–99, two per number. */
const DIGIT_PAIRS = Uint8Array.from({ length: 200 }, (_, i) => ZERO + (i % 2 === 0 ? Math.floor(i / 20) : (i >> 1) % 10))

/**
 * A running chain of digests, each the FNV-1a 64-bit hash of the UTF-8 bytes of `previous + suffix` where `previous` is the one before as 16 hex
 * digits (the empty string at first): `extend` hashes the previous digest's hex digits from its halves and
 * makes the hex string only when `digest` is read, so a delivery costs no string but its suffix.
 */
export class DigestChain {
  /** The digest's two 32-bit halves, as `Fnv1a64` holds them. */
  private lo = 0
  private hi = 0
  /** The digest as text when known: '' at the start, a restored digest that is not 16 hex digits as given. */
  private text: string | undefined
  /** The halves hold the digest (else `text` is all there is: the start, or a digest that is not 16 hex digits). */
  private fromHalves = false

  constructor(digest = '') {
    this.reset(digest)
  }

  /** Starts from `digest` (as `digest` returns it). */
  reset(digest: string): void {
    this.text = digest
    this.fromHalves = /^[0-9a-f]{16}$/.test(digest)
    if (this.fromHalves) {
      this.hi = parseInt(digest.slice(0, 8), 16) | 0
      this.lo = parseInt(digest.slice(8, 16), 16) | 0
    }
  }

  /** The current digest: 16 hex digits, or '' before the first `extend`. */
  get digest(): string {
    return (this.text ??= hex16(this.hi, this.lo))
  }

  /** Moves to the hash of `this.digest + suffix`. */
  extend(suffix: string): void {
    if (!this.fromHalves) {
      // at the start, or from a digest that is not ours: hash the text itself
      this.setFrom(new Fnv1a64().updateText((this.text ?? '') + suffix))
      return
    }
    this.writeHex(hexBytes)
    this.setFrom(new Fnv1a64().update(hexBytes).updateText(suffix))
  }

  /**
   * `extend('|' + client + '|' + seq + '|' + incarnation)`, and `'@' + time` after it when the request carries the
   * time it entered the cluster (`Request.time`, from which the agreed time follows), without making that string (or
   * any other object) when the client id is ASCII and the numbers are non-negative safe integers: the bytes go into
   * a scratch buffer and are hashed from there (one delivery each, at every replica). The time is part of what was
   * delivered: a client's retry of a request enters again with a later time, and two replicas that delivered the
   * two copies at one position must not find their orders equal (their agreed times differ from there on).
   */
  extendDelivery(client: string, seq: number, incarnation: number, time?: number): void {
    const length = 16 + client.length + 4 + 3 * MAX_DIGITS
    if (!this.fromHalves || !isDigitable(seq) || !isDigitable(incarnation) || (time !== undefined && !isDigitable(time))) return this.extend(deliverySuffix(client, seq, incarnation, time))
    if (textBytes.length < length) textBytes = new Uint8Array(Math.max(length, 2 * textBytes.length))
    const bytes = textBytes
    this.writeHex(bytes)
    let at = 16
    bytes[at++] = BAR
    for (let i = 0; i < client.length; i++) {
      const code = client.charCodeAt(i)
      if (code >= 0x80) return this.extend(deliverySuffix(client, seq, incarnation, time)) // UTF-8 needed: the general way
      bytes[at++] = code
    }
    bytes[at++] = BAR
    at = writeDigits(bytes, at, seq)
    bytes[at++] = BAR
    at = writeDigits(bytes, at, incarnation)
    if (time !== undefined) {
      bytes[at++] = AT
      at = writeDigits(bytes, at, time)
    }
    const hasher = scratchHasher.reset().update(bytes, at)
    this.lo = hasher.lo
    this.hi = hasher.hi
    this.text = undefined
  }

  /** The current digest's 16 hex digits, from the halves, into the first 16 of `bytes`. */
  private writeHex(bytes: Uint8Array): void {
    const { lo, hi } = this
    for (let d = 0; d < 8; d++) {
      const shift = 28 - 4 * d
      bytes[d] = HEX_CODES[(hi >>> shift) & 15]!
      bytes[8 + d] = HEX_CODES[(lo >>> shift) & 15]!
    }
  }

  private setFrom(hasher: Fnv1a64): void {
    this.lo = hasher.lo
    this.hi = hasher.hi
    this.text = undefined
    this.fromHalves = true
  }
}

/** What `extendDelivery` hashes after the previous digest, as text. */
function deliverySuffix(client: string, seq: number, incarnation: number, time: number | undefined): string {
  return time === undefined ? `|${client}|${seq}|${incarnation}` : `|${client}|${seq}|${incarnation}@${time}`
}

/** FNV-1a 64-bit hash of some bytes, as 16 hex digits: a cheap, deterministic state digest. */
export function fnv1a64(bytes: Uint8Array): string {
  return new Fnv1a64().update(bytes).digest()
}

