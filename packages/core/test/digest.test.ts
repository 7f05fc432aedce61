import { describe, expect, it } from 'vitest'
import { kv, register } from '@lockstep/machines'
import type { Request } from '@lockstep/interface'
import { DigestChain, Fnv1a64, fnv1a64 } from '../src/engine/digest'

/** The order digest's definition: the hash of the UTF-8 bytes of `previous|client|seq|incarnation`, then `@time` when the request has one. */
const chainDigest = (previous: string, request: Request) =>
  fnv1a64(new TextEncoder().encode(`${previous}|${request.client}|${request.seq}|${request.incarnation ?? 0}${request.time === undefined ? '' : `@${request.time}`}`))
import { singleReplica } from './helpers'

describe('fnv1a64', () => {
  it('matches the FNV-1a 64-bit reference values', () => {
    const bytes = (s: string) => new TextEncoder().encode(s)
    expect(fnv1a64(bytes(''))).toBe('cbf29ce484222325')
    expect(fnv1a64(bytes('a'))).toBe('af63dc4c8601ec8c')
    expect(fnv1a64(bytes('foobar'))).toBe('85944171f73967e8')
  })

  it('hashes text as its UTF-8 bytes, ASCII or not, without encoding it first', () => {
    const bytes = (s: string) => new TextEncoder().encode(s)
    const samples = ['', 'a', 'foobar', 'c1|42|0', 'cbf29ce484222325|client-é|7|1', 'ключ|1', '日本語', 'a😀b', 'x'.repeat(300) + 'ü', '\u007f\u0080']
    // and some seeded random strings over ASCII, two-byte, three-byte and astral characters
    let seed = 14
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) >>> 8 // the high bits: the low ones of this generator repeat with short periods
    const pool = ['a', 'Z', '|', '0', '9', '\u00e9', '\u07ff', '\u0800', '\uffff', '\ud83d\ude00']
    for (let n = 0; n < 200; n++) samples.push(Array.from({ length: next() % 20 }, () => pool[next() % pool.length]).join(''))
    for (const text of samples) expect(new Fnv1a64().updateText(text).digest(), JSON.stringify(text)).toBe(fnv1a64(bytes(text)))
  })
})

describe('the order digest chain', () => {
  it('equals chainDigest applied request by request, from the start and from a restored digest', () => {
    let seed = 7
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) >>> 8 // the high bits: the low ones of this generator repeat with short periods
    const clients = ['c1', 'client-é', '日本', 'a😀', 'x'.repeat(40), 'y'.repeat(300)]
    for (const start of ['', 'cbf29ce484222325', '0000000000000000', 'ffffffffffffffff', 'not-a-digest', 'ABCDEF0123456789']) {
      const chain = new DigestChain(start)
      let expected = start
      expect(chain.digest).toBe(expected)
      for (let n = 0; n < 300; n++) {
        const time = next() % 4 === 0 ? undefined : next() % 3 === 0 ? next() % 10_000 : 1_764_000_000_000 + next()
        const request = { client: clients[next() % clients.length]!, seq: next() % 100_000, incarnation: next() % 3 === 0 ? undefined : next() % 5 === 0 ? 1_764_000_000_000 + next() : next() % 5, command: null, ...(time === undefined ? {} : { time }) }
        expected = chainDigest(expected, request)
        if (n % 2 === 0) chain.extend(`|${request.client}|${request.seq}|${request.incarnation ?? 0}${time === undefined ? '' : `@${time}`}`)
        else chain.extendDelivery(request.client, request.seq, request.incarnation ?? 0, request.time)
        if (n % 7 === 0) expect(chain.digest).toBe(expected) // read now and then: reading must not change the chain
        if (n === 150) chain.reset(expected)
      }
      expect(chain.digest).toBe(expected)
    }
  })
})

describe('extendDelivery', () => {
  it('hashes the decimal digits of any seq and incarnation as their text (leading zeros, 2^31, the largest safe integer)', () => {
    const numbers = [0, 1, 9, 10, 99, 100, 2 ** 31 - 1, 2 ** 31, 1e8 - 1, 1e8, 1e8 + 1, 1_764_000_000_005, 1_764_012_345_678, 123_456_700_000_001, Number.MAX_SAFE_INTEGER]
    let expected = 'cbf29ce484222325'
    const chain = new DigestChain(expected)
    for (const seq of numbers) for (const incarnation of numbers) {
      expected = chainDigest(expected, { client: 'c7', seq, incarnation, command: null })
      chain.extendDelivery('c7', seq, incarnation)
      expect(chain.digest, `${seq} ${incarnation}`).toBe(expected)
    }
    // Outside the fast path (not a non-negative safe integer): the same definition, through the text.
    for (const odd of [-1, 1.5, 2 ** 53, -0]) {
      expected = chainDigest(expected, { client: 'c7', seq: 3, incarnation: odd, command: null })
      chain.extendDelivery('c7', 3, odd)
      expect(chain.digest, String(odd)).toBe(expected)
    }
    // The time a request entered, fast path or not (a simulated clock set back may read below zero).
    for (const time of [...numbers, -5, 2.5, 2 ** 53]) {
      expected = chainDigest(expected, { client: 'c7', seq: 4, incarnation: 1, command: null, time })
      chain.extendDelivery('c7', 4, 1, time)
      expect(chain.digest, `time ${time}`).toBe(expected)
    }
  })

  it('tells two copies of one request apart by the time each entered (a retry enters again, later)', () => {
    const first = new DigestChain('cbf29ce484222325')
    const retried = new DigestChain('cbf29ce484222325')
    first.extendDelivery('c1', 12, 1, 2_920)
    retried.extendDelivery('c1', 12, 1, 4_763)
    expect(first.digest).not.toBe(retried.digest)
  })
})

describe('the state digest, hashed a turn at a time', () => {
  it('equals the digest at the position it was taken, while requests execute meanwhile', async () => {
    for (const machine of [kv, register]) {
      const r = singleReplica(machine)
      const big = 'v'.repeat(300 * 1024)
      for (let seq = 1; seq <= 12; seq++) r.request('c', seq, machine === kv ? { name: 'put', args: { key: `k${seq}`, value: `${seq}${big}` } } : { name: 'write', args: { value: seq } })
      const before = { position: r.engine.position, digest: r.engine.stateDigest() }
      let turns = 0
      const later = r.engine.stateDigestInTurns(async () => {
        // Each turn, another request changes the state: the digest stays the one of the position it reports.
        turns++
        r.request('c', 12 + turns, machine === kv ? { name: 'put', args: { key: `k${turns}`, value: 'changed' } } : { name: 'write', args: { value: 100 + turns } })
      })
      expect(await later).toEqual(before)
      if (machine !== kv) continue
      expect(turns).toBeGreaterThan(1) // hashed over several turns, while the state changed
      expect(r.engine.stateDigest()).not.toBe(before.digest)
    }
  })
})

/** MurmurHash3 x86 32-bit of `bytes` with `seed`, written from its reference (byte-wise, with the tail), to check version 2 against. */
function murmur3(bytes: Uint8Array, seed: number): number {
  const c1 = 0xcc9e2d51
  const c2 = 0x1b873593
  let h = seed | 0
  const blocks = bytes.length >> 2
  for (let i = 0; i < blocks; i++) {
    let k = bytes[4 * i]! | (bytes[4 * i + 1]! << 8) | (bytes[4 * i + 2]! << 16) | (bytes[4 * i + 3]! << 24)
    k = Math.imul(k, c1)
    k = (k << 15) | (k >>> 17)
    h ^= Math.imul(k, c2)
    h = (h << 13) | (h >>> 19)
    h = (Math.imul(h, 5) + 0xe6546b64) | 0
  }
  let k = 0
  const tail = bytes.length & 3
  if (tail === 3) k ^= bytes[4 * blocks + 2]! << 16
  if (tail >= 2) k ^= bytes[4 * blocks + 1]! << 8
  if (tail >= 1) {
    k ^= bytes[4 * blocks]!
    k = Math.imul(k, c1)
    k = (k << 15) | (k >>> 17)
    h ^= Math.imul(k, c2)
  }
  h ^= bytes.length
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** Version 2's words of a delivery after `previous` (see `DigestChain.mixDelivery`), built the plain way. */
function version2Words(previous: string, request: Request, previousSwapped: boolean): number[] {
  const text = (s: string, tag: number) => {
    const words = [(tag | s.length) >>> 0]
    for (let i = 0; i < s.length; i += 2) words.push((s.charCodeAt(i) | (i + 1 < s.length ? s.charCodeAt(i + 1) << 16 : 0)) >>> 0)
    return words
  }
  const number = (n: number) => (Number.isSafeInteger(n) && n >= 0 ? [Math.floor(n / 2 ** 32), n % 2 ** 32] : text(String(n), 0x80000000))
  const isHex = /^[0-9a-f]{16}$/.test(previous)
  const high = isHex ? parseInt(previous.slice(0, 8), 16) : 0
  const low = isHex ? parseInt(previous.slice(8), 16) : 0
  return [
    ...(isHex ? (previousSwapped ? [low, high] : [high, low]) : text(previous, 0x40000000)),
    ...text(request.client, 0),
    ...number(request.seq),
    ...number(request.incarnation ?? 0),
    ...(request.time === undefined ? [0xffffffff] : number(request.time)),
  ]
}

/** Version 2's definition: lane one (seed 0x9e3779b9) over the words, lane two (seed 0x85ebca6b) over them with the previous halves swapped. */
const chainDigestV2 = (previous: string, request: Request) => {
  const bytes = (words: number[]) => {
    const out = new Uint8Array(4 * words.length)
    words.forEach((w, i) => new DataView(out.buffer).setUint32(4 * i, w >>> 0, true))
    return out
  }
  const hex = (n: number) => n.toString(16).padStart(8, '0')
  return hex(murmur3(bytes(version2Words(previous, request, false)), 0x9e3779b9)) + hex(murmur3(bytes(version2Words(previous, request, true)), 0x85ebca6b))
}

describe('the order digest chain, version 2', () => {
  it('matches MurmurHash3 x86 32-bit reference values (the reference the definition is checked with)', () => {
    const bytes = (s: string) => new TextEncoder().encode(s)
    expect(murmur3(bytes(''), 0)).toBe(0)
    expect(murmur3(bytes(''), 1)).toBe(0x514e28b7)
    expect(murmur3(bytes('hello'), 0)).toBe(0x248bfa47)
    expect(murmur3(bytes('The quick brown fox jumps over the lazy dog'), 0)).toBe(0x2e4ff723)
  })

  it('equals its definition request by request, from the start and from a restored digest, for any client id and number', () => {
    let seed = 11
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) >>> 8
    const clients = ['c1', 'c12', '', 'client-é', '日本', 'a😀', 'x'.repeat(41), 'y'.repeat(300)]
    const numbers = [0, 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 1_764_000_000_005, Number.MAX_SAFE_INTEGER, -1, 1.5, 2 ** 53, -0]
    for (const start of ['', 'cbf29ce484222325', '0000000000000000', 'ffffffffffffffff', 'not-a-digest', 'ABCDEF0123456789']) {
      const chain = new DigestChain(start, 2)
      let expected = start
      for (let n = 0; n < 300; n++) {
        const pick = () => (next() % 3 === 0 ? numbers[next() % numbers.length]! : next() % 100_000)
        const time = next() % 4 === 0 ? undefined : next() % 2 === 0 ? 1_764_000_000_000 + next() : pick()
        const request = { client: clients[next() % clients.length]!, seq: pick(), incarnation: next() % 3 === 0 ? undefined : pick(), command: null, ...(time === undefined ? {} : { time }) }
        expected = chainDigestV2(expected, request)
        chain.extendDelivery(request.client, request.seq, request.incarnation ?? 0, request.time)
        if (n % 7 === 0) expect(chain.digest, `${start} ${n}`).toBe(expected)
        if (n === 150) chain.reset(expected)
      }
      expect(chain.digest).toBe(expected)
      expect(chain.version).toBe(2)
    }
  })

  it('tells apart deliveries that differ in any one field, and a time of 0 from none', () => {
    const base = { client: 'c1', seq: 7, incarnation: 3, time: 1000 }
    const variants = [
      base,
      { ...base, client: 'c2' },
      { ...base, client: 'c1 ' },
      { ...base, seq: 8 },
      { ...base, seq: 7 + 2 ** 32 },
      { ...base, incarnation: 4 },
      { ...base, time: 1001 },
      { ...base, time: 0 },
      { ...base, time: undefined },
      { ...base, seq: 1.5 },
    ]
    const digests = variants.map((v) => {
      const chain = new DigestChain('cbf29ce484222325', 2)
      chain.extendDelivery(v.client, v.seq, v.incarnation, v.time)
      return chain.digest
    })
    expect(new Set(digests).size).toBe(variants.length)
    // and differs from version 1 over the same delivery
    const v1 = new DigestChain('cbf29ce484222325', 1)
    v1.extendDelivery(base.client, base.seq, base.incarnation, base.time)
    expect(digests).not.toContain(v1.digest)
  })

  it('keeps its version across a reset unless told another, and moves by extendDelivery alone', () => {
    const chain = new DigestChain('', 2)
    chain.reset('cbf29ce484222325')
    expect(chain.version).toBe(2)
    chain.reset('', 1)
    expect(chain.version).toBe(1)
    expect(() => new DigestChain('', 2).extend('|c1|1|0')).toThrow(expect.objectContaining({ code: 'INTERNAL' }))
  })
})
