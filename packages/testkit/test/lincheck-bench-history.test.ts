import { describe, expect, it } from 'vitest'
import { checkLinearizability, generateKvHistory, isDetermined, kvModel } from '../src/lincheck/index'

// The same history as tooling/bench/lincheck-bench.mjs; timing is measured there, not here.
const BENCH_HISTORY = { seed: 1, operations: 10_000, clients: 10, keys: 5 }

describe('the benchmark history', () => {
  const history = generateKvHistory(BENCH_HISTORY)

  it('is realistic: 10 clients, a few keys, some unknown outcomes and crashes', () => {
    expect(history).toHaveLength(10_000)
    expect(new Set(history.map((o) => o.client)).size).toBe(10)
    expect(new Set(history.map((o) => o.input.key)).size).toBe(5)
    const unknown = history.filter((o) => !isDetermined(o)).length
    expect(unknown).toBeGreaterThan(50)
    expect(unknown).toBeLessThan(500)
    expect(history.some((o) => o.return === null)).toBe(true)
  })

  it('is judged linearizable', () => {
    const result = checkLinearizability(history, kvModel)
    expect(result).toMatchObject({ ok: true, verdict: 'linearizable', operations: 10_000, partitions: 5 })
  })

  it('is generated deterministically', () => {
    expect(generateKvHistory(BENCH_HISTORY)).toEqual(history)
  })
})
