import { describe, expect, it } from 'vitest'
import { checkLinearizability, kvModel, type KvInput, type KvOutput, type KvState, type Operation } from '../src/lincheck/index'
import { op } from './lincheck-helpers'

type H = Operation<KvInput, KvOutput>[]
const get = (key: string) => ({ f: 'get' as const, key })
const put = (key: string, value: string) => ({ f: 'put' as const, key, value })
const append = (key: string, value: string) => ({ f: 'append' as const, key, value })

describe('kv model', () => {
  it('reads "" for a missing key, and applies put and append', () => {
    const history: H = [
      op(1, get('x'), { value: '' }, 0, 1),
      op(1, put('x', 'a'), {}, 2, 3),
      op(2, append('x', 'b'), {}, 4, 5),
      op(2, get('x'), { value: 'ab' }, 6, 7),
      op(3, append('y', 'z'), {}, 0, 1),
      op(3, get('y'), { value: 'z' }, 8, 9),
    ]
    expect(checkLinearizability(history, kvModel)).toMatchObject({ ok: true, verdict: 'linearizable', operations: 6, partitions: 2 })
  })

  it('treats a key put to "" like a missing key', () => {
    const history: H = [op(1, put('x', 'a'), {}, 0, 1), op(1, put('x', ''), {}, 2, 3), op(2, get('x'), { value: '' }, 4, 5)]
    expect(checkLinearizability(history, kvModel).ok).toBe(true)
  })

  it('orders concurrent appends either way, but applies each exactly once', () => {
    const appends: H = [op(1, append('x', 'a'), {}, 0, 10), op(2, append('x', 'b'), {}, 0, 10)]
    for (const [value, ok] of [['ab', true], ['ba', true], ['a', false], ['abb', false], ['', false]] as const) {
      expect(checkLinearizability([...appends, op(3, get('x'), { value }, 20, 30)], kvModel).ok, value).toBe(ok)
    }
  })

  it('rejects a stale get and names the key that failed', () => {
    const history: H = [
      op('a', put('x', '1'), {}, 0, 10),
      op('a', put('y', '1'), {}, 0, 10),
      op('b', get('x'), { value: '1' }, 20, 30),
      op('c', put('y', '2'), {}, 20, 30),
      op('b', get('y'), { value: '1' }, 40, 50),
    ]
    const result = checkLinearizability(history, kvModel)
    expect(result.verdict).toBe('not-linearizable')
    const violation = result.violation!
    expect(violation.partition).toBe('key "y"')
    expect(violation.prefix.map((p) => p.index)).toEqual([1, 3])
    expect(violation.failedOperation).toMatchObject({ index: 4, description: 'get "y" -> "1"' })
    expect(violation.stateAfterPrefix).toBe('"y" = "2"')
    expect(violation.message).toContain('in key "y"')
  })

  it('partitions by key: a violation on one key is found among many others', () => {
    const history: H = []
    for (let k = 0; k < 20; k++) {
      history.push(op(k, put(`k${k}`, 'v'), {}, k, k + 5), op(k, get(`k${k}`), { value: 'v' }, k + 10, k + 15))
    }
    history.push(op(99, get('k7'), { value: 'w' }, 100, 101))
    const result = checkLinearizability(history, kvModel)
    expect(result.partitions).toBe(20)
    expect(result.violation?.partition).toBe('key "k7"')
    expect(result.violation?.failedOperation.index).toBe(40)
  })

  it('an append with an unknown outcome may or may not show up, once', () => {
    const history = (value: string): H => [
      op(1, put('x', 'a'), {}, 0, 10),
      op(2, append('x', 'b'), null, 20, 30),
      op(3, append('x', 'c'), {}, 40, 50),
      op(3, get('x'), { value }, 60, 70),
    ]
    expect(checkLinearizability(history('ac'), kvModel).ok).toBe(true)
    expect(checkLinearizability(history('abc'), kvModel).ok).toBe(true)
    // Unknown outcomes can take effect after their client gave up, even after later operations.
    expect(checkLinearizability(history('acb'), kvModel).ok).toBe(true)
    expect(checkLinearizability(history('abcb'), kvModel).ok).toBe(false)
    expect(checkLinearizability(history('bac'), kvModel).ok).toBe(false)
  })

  it('a put that never returned may show up at any later time', () => {
    const history: H = [
      op(1, put('x', 'a'), {}, 0, 10),
      op(2, put('x', 'lost'), null, 20, null),
      op(3, get('x'), { value: 'a' }, 30, 40),
      op(3, get('x'), { value: 'lost' }, 500, 510),
      op(3, get('x'), { value: 'lost' }, 600, 610),
    ]
    expect(checkLinearizability(history, kvModel).ok).toBe(true)
    const back = [...history, op(3, get('x'), { value: 'a' }, 700, 710)]
    expect(checkLinearizability(back, kvModel).ok).toBe(false)
  })

  it('describes operations and states', () => {
    expect(kvModel.describeOperation!(op(1, append('x', 'b'), null, 0, 1))).toBe('append "x" "b" -> ?')
    expect(kvModel.describeOperation!(op(1, get('x'), null, 0, 1))).toBe('get "x" -> ?')
    expect(kvModel.describeState!(kvModel.init())).toBe('every key is ""')
  })

  it('gives states with different keys or values different cache keys', () => {
    const states = [
      new Map<string, string>(),
      new Map([['a', 'b']]),
      new Map([['ab', '']]),
      new Map([['a', 'b'], ['c', 'd']]),
      new Map([['a', '1:b1:c1:d']]),
    ]
    const keys = states.map((state) => kvModel.key(state))
    expect(new Set(keys).size).toBe(keys.length)
    expect(kvModel.key(new Map([['c', 'd'], ['a', 'b']]))).toBe(keys[3])
  })

  it('keeps the cache keys of long values short: the cache holds one per state, and values grow with every append', () => {
    // A chaos run's kv history (14,423 operations, values up to 19,690 characters) made the search keep a key
    // as long as the value for every state it visited, and the checker ran out of memory (a V8 fatal error).
    const step = (state: KvState, input: KvInput) => kvModel.step(state, input, {}).state
    let state = kvModel.init()
    for (let i = 0; i < 2000; i++) state = step(state, append('k', `token-${i};`))
    expect((kvModel.step(state, get('k'), { value: Array.from({ length: 2000 }, (_, i) => `token-${i};`).join('') })).ok).toBe(true)
    expect(kvModel.key(state).length).toBeLessThan(64)
    // Exact: the same operations from the same state give the same key; another value, another key.
    const a = step(step(state, append('k', 'x;')), append('k', 'y;'))
    const b = step(step(state, append('k', 'x;')), append('k', 'y;'))
    const c = step(step(state, append('k', 'y;')), append('k', 'x;'))
    expect(kvModel.key(a)).toBe(kvModel.key(b))
    expect(kvModel.key(a)).not.toBe(kvModel.key(c))
    expect(kvModel.key(a)).not.toBe(kvModel.key(state))
    // Short values keep their content as the key (states reached in different ways still meet in the cache).
    expect(kvModel.key(step(step(kvModel.init(), append('k', 'a')), append('k', 'b')))).toBe(kvModel.key(step(kvModel.init(), { f: 'put', key: 'k', value: 'ab' })))
  })
})
