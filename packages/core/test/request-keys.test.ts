import { describe, expect, it } from 'vitest'
import { RequestKeys } from '../src/engine/request-keys'

describe('RequestKeys', () => {
  for (const clientCount of [5, 3_000]) {
    it(`behaves as a set of "client, seq" pairs against a model (${clientCount} clients)`, () => {
      let seed = 23
      // The high bits of a linear congruential generator (its low bits repeat with short periods).
      const below = (n: number) => Math.floor(((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * n)
      const keys = new RequestKeys()
      const model = new Set<string>()
      const names = ['c1', 'c2', 'c\u00001', '', 'c1\u00002']
      const clients = Array.from({ length: clientCount }, (_, i) => names[i] ?? `client-${i}`)
      for (let step = 0; step < 40_000; step++) {
        const client = clients[below(clients.length)]!
        const seq = 1 + below(4)
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
        if (step % 10_000 === 9_999) {
          for (const c of clients) for (let s = 1; s <= 4; s++) expect(keys.has(c, s)).toBe(model.has(JSON.stringify([c, s])))
          keys.clear()
          model.clear()
        }
      }
    })
  }

  it('many clients coming and going: only those with a request kept are found (the others are swept past 1,024)', () => {
    const keys = new RequestKeys()
    const clients = Array.from({ length: 3_000 }, (_, i) => `c${i}`)
    for (let round = 1; round <= 3; round++) {
      for (const client of clients) keys.add(client, round)
      // Every tenth client keeps its request; the others' go.
      clients.forEach((client, i) => i % 10 !== 0 && expect(keys.delete(client, round)).toBe(true))
      clients.forEach((client, i) => expect(keys.has(client, round), `${client} round ${round}`).toBe(i % 10 === 0))
      expect(keys.size).toBe(300 * round)
    }
  })
})
