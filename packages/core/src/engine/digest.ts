/**
 * FNV-1a 64-bit, fed piece by piece: hashing pieces one after another gives the digest of their
 * concatenation, so a large image is hashed as it streams, never whole.
 */
export class Fnv1a64 {
  // Four 16-bit limbs, since JavaScript bit operations are 32-bit; offset basis 0xcbf29ce484222325.
  /** @internal */ h0 = 0x2325
  /** @internal */ h1 = 0x8422
  /** @internal */ h2 = 0x9ce4
  /** @internal */ h3 = 0xcbf2

  /** Hashes `bytes` (its first `length`) after everything hashed before. */
  update(bytes: Uint8Array, length = bytes.length): this {
    let h0 = this.h0, h1 = this.h1, h2 = this.h2, h3 = this.h3
    for (let i = 0; i < length; i++) {
      h0 ^= bytes[i]!
      // multiply by the FNV prime 0x100000001b3 in 16-bit limbs
      const t0 = h0 * 0x1b3
      const t1 = h1 * 0x1b3
      const t2 = h2 * 0x1b3 + (h0 << 8)
      const t3 = h3 * 0x1b3 + (h1 << 8)
      const c1 = t1 + (t0 >>> 16)
      const c2 = t2 + (c1 >>> 16)
      h0 = t0 & 0xffff
      h1 = c1 & 0xffff
      h2 = c2 & 0xffff
      h3 = (t3 + (c2 >>> 16)) & 0xffff
    }
    this.h0 = h0
    this.h1 = h1
    this.h2 = h2
    this.h3 = h3
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
    this.h0 = 0x2325
    this.h1 = 0x8422
    this.h2 = 0x9ce4
    this.h3 = 0xcbf2
    return this
  }

  /** The state as four 16-bit limbs, low first. */
  limbs(): [number, number, number, number] {
    return [this.h0, this.h1, this.h2, this.h3]
  }

  /** The digest of everything hashed so far, as 16 hex digits. */
  digest(): string {
    return hex4(this.h3) + hex4(this.h2) + hex4(this.h1) + hex4(this.h0)
  }
}

const textEncoder = new TextEncoder()
/** Scratch space for the ASCII bytes of a text being hashed (grown as needed), and for a digest's 16 hex digits. */
let textBytes = new Uint8Array(256)
const hexBytes = new Uint8Array(16)

const HEX_DIGITS = '0123456789abcdef'
const HEX_PAIRS = Array.from({ length: 256 }, (_, b) => HEX_DIGITS[b >>> 4]! + HEX_DIGITS[b & 15]!)

function hex4(limb: number): string {
  return HEX_PAIRS[limb >>> 8]! + HEX_PAIRS[limb & 255]!
}

const HEX_CODES = Array.from(HEX_DIGITS, (c) => c.charCodeAt(0))
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
  // Above 2^31 (incarnations are clock readings): the digits above the last eight, then those eight, in 32-bit steps.
  const high = Math.floor(n / 1e8)
  at = writeSmallDigits(bytes, at, high, 0)
  return writeSmallDigits(bytes, at, n - high * 1e8, 8)
}

/** Writes the decimal digits of `n` (0 to 2^31 - 1), with leading zeros up to `width` digits. */
function writeSmallDigits(bytes: Uint8Array, at: number, n: number, width: number): number {
  let digits = 1
  for (let rest = (n / 10) | 0; rest > 0; rest = (rest / 10) | 0) digits++
  if (digits < width) digits = width
  let rest = n | 0
  for (let i = at + digits - 1; i >= at; i--) {
    const tenth = (rest / 10) | 0
    bytes[i] = ZERO + rest - tenth * 10
    rest = tenth
  }
  return at + digits
}

/**
 * A running chain of digests, each the FNV-1a 64-bit hash of the UTF-8 bytes of `previous + suffix` where `previous` is the one before as 16 hex
 * digits (the empty string at first): `extend` hashes the previous digest's hex digits from its limbs and
 * makes the hex string only when `digest` is read, so a delivery costs no string but its suffix.
 */
export class DigestChain {
  private h0 = 0
  private h1 = 0
  private h2 = 0
  private h3 = 0
  /** The digest as text when known: '' at the start, a restored digest that is not 16 hex digits as given. */
  private text: string | undefined
  /** The limbs hold the digest (else `text` is all there is: the start, or a digest that is not 16 hex digits). */
  private fromLimbs = false

  constructor(digest = '') {
    this.reset(digest)
  }

  /** Starts from `digest` (as `digest` returns it). */
  reset(digest: string): void {
    this.text = digest
    this.fromLimbs = /^[0-9a-f]{16}$/.test(digest)
    if (this.fromLimbs) {
      this.h3 = parseInt(digest.slice(0, 4), 16)
      this.h2 = parseInt(digest.slice(4, 8), 16)
      this.h1 = parseInt(digest.slice(8, 12), 16)
      this.h0 = parseInt(digest.slice(12, 16), 16)
    }
  }

  /** The current digest: 16 hex digits, or '' before the first `extend`. */
  get digest(): string {
    return (this.text ??= hex4(this.h3) + hex4(this.h2) + hex4(this.h1) + hex4(this.h0))
  }

  /** Moves to the hash of `this.digest + suffix`. */
  extend(suffix: string): void {
    if (!this.fromLimbs) {
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
    if (!this.fromLimbs || !isDigitable(seq) || !isDigitable(incarnation) || (time !== undefined && !isDigitable(time))) return this.extend(deliverySuffix(client, seq, incarnation, time))
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
    this.h0 = hasher.h0
    this.h1 = hasher.h1
    this.h2 = hasher.h2
    this.h3 = hasher.h3
    this.text = undefined
  }

  /** The current digest's 16 hex digits, from the limbs, into the first 16 of `bytes`. */
  private writeHex(bytes: Uint8Array): void {
    const { h0, h1, h2, h3 } = this
    for (let d = 0; d < 4; d++) {
      const shift = 12 - 4 * d
      bytes[d] = HEX_CODES[(h3 >>> shift) & 15]!
      bytes[4 + d] = HEX_CODES[(h2 >>> shift) & 15]!
      bytes[8 + d] = HEX_CODES[(h1 >>> shift) & 15]!
      bytes[12 + d] = HEX_CODES[(h0 >>> shift) & 15]!
    }
  }

  private setFrom(hasher: Fnv1a64): void {
    ;[this.h0, this.h1, this.h2, this.h3] = hasher.limbs()
    this.text = undefined
    this.fromLimbs = true
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

