import { describe, expect, it } from 'vitest'
import { checkHistoryLinearizable } from '../../src/sim/checkers/linearizability'
import { kvModel, registerModel } from '../../src/lincheck/index'
import { op } from '../lincheck-helpers'

describe('linearizability checker', () => {
  it('passes a history some sequential order explains', () => {
    expect(checkHistoryLinearizable([
      op('a', { f: 'write', value: 1 }, {}, 0, 10),
      op('b', { f: 'read' }, { value: 1 }, 5, 15), // concurrent with the write: may see it
      op('b', { f: 'read' }, { value: 1 }, 20, 25),
    ], registerModel)).toEqual([])
  })

  it('flags a stale read after a completed write', () => {
    const violations = checkHistoryLinearizable([
      op('a', { f: 'write', value: 1 }, {}, 0, 10),
      op('b', { f: 'read' }, { value: null }, 20, 25),
    ], registerModel)
    expect(violations).toHaveLength(1)
    expect(violations[0]).toMatch(/^history of 2 operations is not linearizable: \{"ok":false/)
  })

  it('flags a kv get that misses an append that completed before it', () => {
    const violations = checkHistoryLinearizable([
      op('a', { f: 'put', key: 'k', value: 'x' }, {}, 0, 1),
      op('a', { f: 'append', key: 'k', value: 'y' }, {}, 2, 3),
      op('b', { f: 'get', key: 'k' }, { value: 'x' }, 4, 5),
    ], kvModel)
    expect(violations).toEqual([expect.stringMatching(/^history of 3 operations is not linearizable/)])
  })

  it('says a history is undecided, not that it is not linearizable, when the search gives up', () => {
    // Eight concurrent appends to one key, read in an order the search must find among 8! orders.
    const values = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']
    const history = [
      ...values.map((value, i) => op(`c1.${i + 1}`, { f: 'append', key: 'k', value }, {}, 0, 10)),
      op('c2', { f: 'get', key: 'k' }, { value: 'hgfedcba' }, 11, 12),
    ]
    expect(checkHistoryLinearizable(history, kvModel)).toEqual([])
    const violations = checkHistoryLinearizable(history, kvModel, { maxStates: 10 })
    expect(violations).toEqual([expect.stringMatching(/^linearizability undecided: the checker gave up on the history of 9 operations \(.*\); too many operations were pending at once/)])
  })
})
