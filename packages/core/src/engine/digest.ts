/**
 * FNV-1a 64-bit, fed piece by piece: hashing pieces one after another gives the digest of their
 * concatenation, so a large image is hashed as it streams, never whole.
 */
export class Fnv1a64 {
  // Four 16-bit limbs, since JavaScript bit operations are 32-bit; offset basis 0xcbf29ce484222325.
  private h0 = 0x2325
  private h1 = 0x8422
  private h2 = 0x9ce4
  private h3 = 0xcbf2

  /** Hashes `bytes` after everything hashed before. */
  update(bytes: Uint8Array): this {
    let h0 = this.h0, h1 = this.h1, h2 = this.h2, h3 = this.h3
    for (let i = 0; i < bytes.length; i++) {
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

  /** The digest of everything hashed so far, as 16 hex digits. */
  digest(): string {
    return [this.h3, this.h2, this.h1, this.h0].map((h) => h.toString(16).padStart(4, '0')).join('')
  }
}

/** FNV-1a 64-bit hash of some bytes, as 16 hex digits: a cheap, deterministic state digest. */
export function fnv1a64(bytes: Uint8Array): string {
  return new Fnv1a64().update(bytes).digest()
}
