import { ErrorCodes, LockstepError } from '@lockstep/interface'

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
export function hex16(hi: number, lo: number): string {
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
 * The versions of the order digest's chain (see {@link DigestChain}). Replicas compare order digests, so every
 * replica of a cluster extends its chain the same way: a chain keeps the version of the history it continues
 * (an image, a log, a suffix of the order from a peer), and only a replica that holds no order yet (position 0)
 * starts one of {@link ORDER_DIGEST_VERSION}.
 * - 1: FNV-1a 64-bit over the text `previous|client|seq|incarnation` (`@time` after it when the request has one),
 *   `previous` the digest before as 16 hex digits: 50–60 bytes hashed a byte at a time per delivery.
 * - 2: the previous digest's halves and the delivery's fields mixed as 32-bit words (see `mixDelivery`): about a
 *   tenth of the work, at every replica and every delivery.
 */
export type OrderDigestVersion = 1 | 2

/** The version of the order digest a replica starts a new history with (a fresh cluster's). */
export const ORDER_DIGEST_VERSION: OrderDigestVersion = 2

/** The order digest versions this build can continue. */
export function isOrderDigestVersion(value: unknown): value is OrderDigestVersion {
  return value === 1 || value === 2
}

/** `value` as an order digest version, or `UNSUPPORTED` naming `where` it came from (a newer version's history). */
export function checkedDigestVersion(value: unknown, where: string): OrderDigestVersion {
  if (isOrderDigestVersion(value)) return value
  throw new LockstepError(ErrorCodes.UNSUPPORTED, `${where}: its order digest is version ${JSON.stringify(value)}, which this version of Lockstep cannot continue (it knows 1 and 2): run the version that made it`)
}

/**
 * A running chain of digests over the requests delivered, one per position, as 16 hex digits ('' before the first).
 * Version 1 (see {@link OrderDigestVersion}): each the FNV-1a 64-bit hash of the UTF-8 bytes of `previous + suffix`
 * where `previous` is the one before as 16 hex digits (the empty string at first): `extend` hashes the previous
 * digest's hex digits from its halves and makes the hex string only when `digest` is read, so a delivery costs no
 * string but its suffix. Version 2: `extendDelivery` mixes the delivery's fields into the two halves as 32-bit words.
 */
/**
 * An order digest as its keeper holds it: its text, and when that text is 16 hex digits its two 32-bit halves, which
 * a reader may keep instead of the text (a string per delivery, kept for thousands of deliveries, is garbage the
 * collector carries into its old generation).
 */
export interface OrderDigestView {
  /** The digest as text (made on first read). */
  readonly digest: string
  /** True when `high` and `low` hold the digest: its text is `hex16(high, low)`. */
  readonly hasHalves: boolean
  readonly high: number
  readonly low: number
}

export class DigestChain implements OrderDigestView {
  /** The digest's two 32-bit halves, as `Fnv1a64` holds them. */
  private lo = 0
  private hi = 0
  /** The digest as text when known: '' at the start, a restored digest that is not 16 hex digits as given. */
  private text: string | undefined
  /** The halves hold the digest (else `text` is all there is: the start, or a digest that is not 16 hex digits). */
  private fromHalves = false
  /** How the chain is extended (see {@link OrderDigestVersion}). */
  private chainVersion: OrderDigestVersion

  constructor(digest = '', version: OrderDigestVersion = 1) {
    this.chainVersion = version
    this.reset(digest)
  }

  /** How this chain is extended. */
  get version(): OrderDigestVersion {
    return this.chainVersion
  }

  /** Starts from `digest` (as `digest` returns it), extended from now on as `version` says (default: as before). */
  reset(digest: string, version: OrderDigestVersion = this.chainVersion): void {
    this.chainVersion = version
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

  get hasHalves(): boolean {
    return this.fromHalves
  }

  get high(): number {
    return this.hi
  }

  get low(): number {
    return this.lo
  }

  /** Moves to the hash of `this.digest + suffix`: version 1's step (a version 2 chain moves by `extendDelivery` alone). */
  extend(suffix: string): void {
    if (this.chainVersion !== 1) throw new LockstepError(ErrorCodes.INTERNAL, `DigestChain.extend is version 1's step; this chain is version ${this.chainVersion}`)
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
    if (this.chainVersion === 2) return this.mixDelivery(client, seq, incarnation, time)
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

  /**
   * Version 2 of a delivery's step. Two lanes of 32 bits, each a MurmurHash3 (x86, 32-bit) over the same words:
   * the previous digest (its halves; from a digest that is not 16 hex digits, or none, its text as below), then the
   * client id (its length and its UTF-16 code units, two per word), then `seq`, `incarnation` and the time, each a
   * non-negative safe integer as its high and low 32 bits (the high word below 2^21), any other number as a word
   * with the top bit set and the length of its `String()`, then that text's code units; no time: the word
   * 0xffffffff. Lane one starts from seed 0x9e3779b9 and reads the previous digest as (high, low), lane two from
   * seed 0x85ebca6b as (low, high); the new digest is lane one's hash, then lane two's. Every word has one reading,
   * so two deliveries that differ in a field make different words.
   */
  private mixDelivery(client: string, seq: number, incarnation: number, time: number | undefined): void {
    const halves = this.fromHalves
    let words = 0
    if (halves) {
      mixWords[words++] = this.hi
      mixWords[words++] = this.lo
    } else words = pushText(this.text ?? '', 0x40000000, words)
    words = pushText(client, 0, words)
    words = pushNumber(seq, words)
    words = pushNumber(incarnation, words)
    if (time === undefined) mixWords[words++] = -1
    else words = pushNumber(time, words)
    const hi = murmurLane(0x9e3779b9 | 0, words)
    if (halves) {
      // lane two reads the previous digest as (low, high)
      mixWords[0] = this.lo
      mixWords[1] = this.hi
    }
    this.lo = murmurLane(0x85ebca6b | 0, words)
    this.hi = hi
    this.text = undefined
    this.fromHalves = true
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

/** The words a version 2 step mixes (grown as needed: a long client id or text). */
let mixWords = new Int32Array(64)

function ensureWords(needed: number): void {
  if (mixWords.length >= needed) return
  const grown = new Int32Array(Math.max(needed, 2 * mixWords.length))
  grown.set(mixWords)
  mixWords = grown
}

/** Adds the words of a text: `tag | length` (the length below 2^30), then its UTF-16 code units, two per word. */
function pushText(text: string, tag: number, words: number): number {
  const length = text.length
  ensureWords(words + 2 + (length >> 1))
  mixWords[words++] = tag | (length & 0x3fffffff)
  let i = 0
  for (; i + 1 < length; i += 2) mixWords[words++] = text.charCodeAt(i) | (text.charCodeAt(i + 1) << 16)
  if (i < length) mixWords[words++] = text.charCodeAt(i)
  return words
}

/** Adds the words of a number: a non-negative safe integer as its high then low 32 bits, any other as its text tagged with the top bit. */
function pushNumber(n: number, words: number): number {
  if (!isDigitable(n)) return pushText(String(n), 0x80000000 | 0, words)
  ensureWords(words + 2)
  const low = n >>> 0
  mixWords[words++] = (n - low) / 4294967296
  mixWords[words++] = low
  return words
}

/** MurmurHash3 x86 32-bit of the first `words` of `mixWords` with `seed` (their length in bytes, 4 per word, in the finalization). */
function murmurLane(seed: number, words: number): number {
  let h = seed
  for (let i = 0; i < words; i++) {
    let k = Math.imul(mixWords[i]!, 0xcc9e2d51)
    k = (k << 15) | (k >>> 17)
    h ^= Math.imul(k, 0x1b873593)
    h = (h << 13) | (h >>> 19)
    h = (Math.imul(h, 5) + 0xe6546b64) | 0
  }
  h ^= words << 2
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  return h ^ (h >>> 16)
}

/** What `extendDelivery` hashes after the previous digest, as text. */
function deliverySuffix(client: string, seq: number, incarnation: number, time: number | undefined): string {
  return time === undefined ? `|${client}|${seq}|${incarnation}` : `|${client}|${seq}|${incarnation}@${time}`
}

/** FNV-1a 64-bit hash of some bytes, as 16 hex digits: a cheap, deterministic state digest. */
export function fnv1a64(bytes: Uint8Array): string {
  return new Fnv1a64().update(bytes).digest()
}

