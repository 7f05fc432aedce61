import { describe, expect, it } from 'vitest'
import { checkHistoryLinearizable, orderWitness } from '../../src/sim/checkers/linearizability'
import { kvModel, registerModel, type Operation } from '../../src/lincheck/index'
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

  // A put of "" before it all: a write the final get's value could come from, so the search cannot rule orders of
  // the appends out by that get before it is due (lincheck's look past the candidates needs a read no write can be
  // the source of): the histories below stay as hard as these tests need.
  const reset = op('c0', { f: 'put', key: 'k', value: '' }, {}, -10, -5)

  it('says a history is undecided, not that it is not linearizable, when the search gives up', () => {
    // Eight concurrent appends to one key, read in an order the search must find among 8! orders.
    const values = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']
    const history = [
      ...values.map((value, i) => op(`c1.${i + 1}`, { f: 'append', key: 'k', value }, {}, 0, 10)),
      op('c2', { f: 'get', key: 'k' }, { value: 'hgfedcba' }, 11, 12),
      reset,
    ]
    expect(checkHistoryLinearizable(history, kvModel)).toEqual([])
    const violations = checkHistoryLinearizable(history, kvModel, { maxStates: 10 })
    expect(violations).toEqual([expect.stringMatching(/^linearizability undecided: the checker gave up on the history of 10 operations \(.*\); too many operations were pending at once/)])
  })

  describe('when the search gives up, the order the cluster executed the requests in', () => {
    // The same eight concurrent appends, executed at positions 8 down to 1, then the get at 9.
    const values = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']
    const appends = values.map((value, i) => op(`c1.${i + 1}`, { f: 'append', key: 'k', value }, {}, 0, 10))
    const positions = (history: readonly Operation[], at: (index: number) => number | undefined) => (operation: Operation) => at(history.indexOf(operation))

    it('linearizes a history the search gave up on', () => {
      const history = [...appends, op('c2', { f: 'get', key: 'k' }, { value: 'hgfedcba' }, 11, 12), reset]
      expect(checkHistoryLinearizable(history, kvModel, { maxStates: 10, positionOf: positions(history, (i) => (i < 8 ? 8 - i : i === 8 ? 9 : 0)) })).toEqual([])
    })

    it('leaves out an operation that never executed, when its outcome is unknown', () => {
      const history = [...appends, op('c3', { f: 'put', key: 'k', value: 'x' }, null, 5, null), op('c2', { f: 'get', key: 'k' }, { value: 'hgfedcba' }, 11, 12), reset]
      expect(checkHistoryLinearizable(history, kvModel, { maxStates: 10, positionOf: positions(history, (i) => (i < 8 ? 8 - i : i === 8 ? undefined : i === 9 ? 9 : 0)) })).toEqual([])
    })

    it('is tried after a quick search and before the full one: a history it linearizes costs no full search', () => {
      const history = [...appends, op('c2', { f: 'get', key: 'k' }, { value: 'hgfedcba' }, 11, 12), reset]
      const positionOf = positions(history, (i) => (i < 8 ? 8 - i : i === 8 ? 9 : 0))
      /** kvModel, counting its steps: the search's and the order's. */
      const counted = () => {
        const model = { ...kvModel, steps: 0, step: (...args: Parameters<typeof kvModel.step>) => (model.steps++, kvModel.step(...args)) }
        return model
      }
      // The quick search gives up after 10 states, the order linearizes the history: 234 steps. Without the quick
      // search (the full one first, then the order if it gives up): 109,602 steps.
      const quick = counted()
      expect(checkHistoryLinearizable(history, quick, { positionOf, quickStates: 10 })).toEqual([])
      const full = counted()
      expect(checkHistoryLinearizable(history, full, { positionOf, quickStates: Infinity })).toEqual([])
      expect({ quick: quick.steps < 1_000, full: full.steps > 100_000 }).toEqual({ quick: true, full: true })
      // A history the quick search finds not linearizable is not excused by an order: the full search reports it.
      const stale = [...appends, op('c2', { f: 'get', key: 'k' }, { value: '' }, 11, 12)]
      expect(checkHistoryLinearizable(stale, kvModel, { positionOf: positions(stale, (i) => (i < 8 ? i + 2 : 1)), quickStates: 10 })).toEqual([
        expect.stringMatching(/^history of 9 operations is not linearizable/),
      ])
    })

    it('is no witness when it breaks real time or an output, and the verdict stays undecided', () => {
      // A get of "" placed first, though it was called after every append returned (the search finds it not linearizable).
      const early = [...appends, op('c2', { f: 'get', key: 'k' }, { value: '' }, 11, 12)]
      expect(orderWitness(early, kvModel, positions(early, (i) => (i < 8 ? i + 2 : 1)))).toEqual({ ok: false, reason: 'the operation at position 2 (c1.1) returned at 10, before one placed earlier was called at 11' })
      const history = [...appends, op('c2', { f: 'get', key: 'k' }, { value: 'hgfedcba' }, 11, 12), reset]
      // The appends in the other order: the get cannot read what it read, and the run says so.
      expect(checkHistoryLinearizable(history, kvModel, { maxStates: 10, positionOf: positions(history, (i) => (i < 8 ? i + 1 : i === 8 ? 9 : 0)) })).toEqual([
        expect.stringMatching(/^linearizability undecided: .*, and the cluster's own order does not linearize it \(the operation at position 9 \(c2, \{"f":"get","key":"k"\}\) cannot give \{"value":"hgfedcba"\} there\); too many/),
      ])
      // An answered operation with no position.
      expect(orderWitness(history, kvModel, positions(history, (i) => (i < 8 ? i + 1 : i === 8 ? undefined : 0)))).toEqual({ ok: false, reason: 'an operation of c2 called at 11 was answered but its position is unknown' })
    })
  })
})
