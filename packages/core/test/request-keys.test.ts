import { describe, expect, it } from 'vitest'
import { RequestKeys } from '../src/engine/request-keys'

describe('RequestKeys', () => {
  it('behaves as a set of "client, seq" pairs, a client with one request or many, against a model', () => {
    let seed = 23
    // The high bits of a linear congruential generator (its low bits repeat with short periods).
    const below = (n: number) => Math.floor(((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * n)
    const keys = new RequestKeys()
    const model = new Set<string>()
    const clients = ['c1', 'c2', 'c\u00001', '', 'c1\u00002']
    for (let step = 0; step < 20_000; step++) {
      const client = clients[below(clients.length)]!
      const seq = below(6)
      const key = JSON.stringify([client, seq])
      switch (below(4)) {
        case 0:
        case 1:
          keys.add(client, seq)
          model.add(key)
          break
        case 2:
          expect(keys.delete(client, seq), `delete ${key} at step ${step}`).toBe(model.delete(key))
          break
        default:
          expect(keys.has(client, seq), `has ${key} at step ${step}`).toBe(model.has(key))
      }
      expect(keys.size).toBe(model.size)
      if (step % 5_000 === 4_999) {
        keys.clear()
        model.clear()
      }
    }
  })
})
