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
