import { describe, expect, it } from 'vitest'
import { checkLinearizability, generateKvHistory, kvModel, type KvInput, type KvOutput, type Operation } from '../src/lincheck/index'

// Found 6 (issue 11): a 50-client, 2,000-operation kv history made the search run for
// minutes and end with `RangeError: Map maximum size exceeded` instead of a verdict.
// The same history is timed by tooling/bench/lincheck-bench.mjs; here only verdicts count.
export const MANY_CLIENTS_HISTORY = { seed: 1, operations: 2000, clients: 50, keys: 5 }

/** The last get of `key` with a known value, made to read a value no operation ever wrote. */
export function withImpossibleRead(history: readonly Operation<KvInput, KvOutput>[], key: string): { history: Operation<KvInput, KvOutput>[]; index: number } {
  const copy = history.slice()
  let index = copy.length - 1
  while (copy[index]!.input.f !== 'get' || copy[index]!.input.key !== key || copy[index]!.output === null) index--
  const read = copy[index]!
  copy[index] = { ...read, output: { value: `${read.output!.value!}X` } }
  return { history: copy, index }
}

/**
 * A stale read: a get early in the history that returns the value its key held
 * much later (a replica serving a read from the future is as wrong as one serving
 * it from the past, and easier to pick without knowing the linearization).
 */
export function withStaleRead(history: readonly Operation<KvInput, KvOutput>[]): { history: Operation<KvInput, KvOutput>[]; index: number } {
  const copy = history.slice()
  const gets = copy.map((_, i) => i).filter((i) => copy[i]!.input.f === 'get' && copy[i]!.output !== null)
  const early = gets[Math.floor(gets.length / 4)]!
  const key = copy[early]!.input.key
  const late = gets.reverse().find((i) => copy[i]!.input.key === key && copy[i]!.output!.value !== copy[early]!.output!.value)!
  copy[early] = { ...copy[early]!, output: copy[late]!.output }
  return { history: copy, index: early }
}

// Before the fix these ran for minutes and threw RangeError; the budget keeps a
// regression from eating the machine: it would show as verdict "unknown".
const budget = { maxStates: 2_000_000 }

describe('a kv history with 50 concurrent clients (Found 6)', () => {
  const history = generateKvHistory(MANY_CLIENTS_HISTORY)

  it('is what the issue describes: 50 clients, 2,000 operations, some unknown outcomes', () => {
    expect(history).toHaveLength(2000)
    expect(new Set(history.map((o) => o.client)).size).toBe(50)
    expect(history.some((o) => o.output === null)).toBe(true)
  })

  it('is judged linearizable, without a RangeError', () => {
    const result = checkLinearizability(history, kvModel, budget)
    expect(result).toMatchObject({ ok: true, verdict: 'linearizable', operations: 2000, partitions: 5 })
  }, 60_000)

  // One key at a time: a violation must be found whichever partition holds it,
  // including those searched after the hardest one (k2).
  for (const key of ['k0', 'k1', 'k2', 'k3', 'k4']) {
    it(`with a read of a value never written on ${key}, is judged not linearizable at that read`, () => {
      const { history: broken, index } = withImpossibleRead(history, key)
      const result = checkLinearizability(broken, kvModel, budget)
      expect(result.verdict).toBe('not-linearizable')
      expect(result.violation!.partition).toBe(`key "${key}"`)
      expect(result.violation!.failedOperation.index).toBe(index)
    }, 60_000)
  }

  it('with a stale read, is judged not linearizable', () => {
    const { history: broken, index } = withStaleRead(history)
    const result = checkLinearizability(broken, kvModel, budget)
    expect(result.verdict).toBe('not-linearizable')
    expect(result.violation!.partition).toBe(`key ${JSON.stringify(broken[index]!.input.key)}`)
  }, 60_000)
})
