import { describe, expect, it } from 'vitest'
import { kv, register } from '@lockstep/machines'
import { fnv1a64 } from '../src/engine/digest'
import { singleReplica } from './helpers'

describe('fnv1a64', () => {
  it('matches the FNV-1a 64-bit reference values', () => {
    const bytes = (s: string) => new TextEncoder().encode(s)
    expect(fnv1a64(bytes(''))).toBe('cbf29ce484222325')
    expect(fnv1a64(bytes('a'))).toBe('af63dc4c8601ec8c')
    expect(fnv1a64(bytes('foobar'))).toBe('85944171f73967e8')
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
