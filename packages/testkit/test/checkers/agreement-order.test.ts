import { describe, expect, it } from 'vitest'
import { checkAgreement, checkOrder } from '../../src/sim/checkers/agreement-order'
import { incarnation } from './records'

describe('order checker', () => {
  it('passes replicas that delivered the same request at every position, restarts and prefixes included', () => {
    expect(checkOrder([
      incarnation('r1', 0, ['c1#1', 'c2#1', 'c1#2']),
      incarnation('r2', 0, ['c1#1', 'c2#1']),
      incarnation('r2', 1, [[3, 'c1#2']]),
    ])).toEqual([])
  })

  it('names the position and both incarnations when two delivered different requests there', () => {
    expect(checkOrder([
      incarnation('r1', 0, ['c1#1', 'c2#1']),
      incarnation('r2', 0, ['c1#1', 'c1#2']),
    ])).toEqual(['order: at position 2 r1 delivered c2#1 but r2 delivered c1#2'])
  })

  it('compares an incarnation after a restart with the one before it', () => {
    expect(checkOrder([
      incarnation('r3', 0, ['c1#1', 'c2#1']),
      incarnation('r3', 1, [[2, 'c3#1']]),
    ])).toEqual(['order: at position 2 r3 delivered c2#1 but r3 (restart 1) delivered c3#1'])
  })

  it('lets the cluster lose a delivery no majority held once its holder crashed or rolled it back, and nothing else', () => {
    const survivors = incarnation('r2', 0, ['a#1', 'b#1'])
    const crashed = { ...incarnation('r1', 0, ['a#1', 'x#1']), crashed: true }
    const rolledBack = { ...incarnation('r3', 0, ['a#1']), deliveries: [...incarnation('r3', 0, ['a#1']).deliveries, { position: 2, key: 'x#1', executed: true, superseded: true }] }
    // Tentative: never acknowledged, never on a majority's disks.
    expect(checkOrder([survivors, crashed, rolledBack], new Map(), () => false)).toEqual([])
    // Acknowledged at that position, or on a majority's disks: it must never be contradicted.
    expect(checkOrder([survivors, crashed], new Map([['x#1', 2]]), () => false)).toEqual(['order: at position 2 r2 delivered b#1 but r1 delivered x#1'])
    expect(checkOrder([survivors, rolledBack], new Map(), (position, key) => position === 2 && key === 'x#1')).toEqual(['order: at position 2 r2 delivered b#1 but r3 delivered x#1'])
    // A live incarnation that did not roll it back is held to it.
    expect(checkOrder([survivors, incarnation('r1', 0, ['a#1', 'x#1'])], new Map(), () => false)).toEqual(['order: at position 2 r2 delivered b#1 but r1 delivered x#1'])
  })

  it('reports only the first divergence', () => {
    expect(checkOrder([
      incarnation('r1', 0, ['a#1', 'b#1', 'c#1']),
      incarnation('r2', 0, ['b#1', 'a#1', 'd#1']),
    ])).toEqual(['order: at position 1 r1 delivered a#1 but r2 delivered b#1'])
  })
})

describe('agreement checker', () => {
  it('passes when every position below a serving replica was delivered somewhere', () => {
    expect(checkAgreement([
      incarnation('r1', 0, ['a#1', 'a#2'], undefined),
      incarnation('r2', 0, [[3, 'a#3']], 3), // took positions 1–2 by state transfer
    ])).toEqual([])
  })

  it('flags a serving replica whose position runs past what anyone delivered', () => {
    expect(checkAgreement([
      incarnation('r1', 0, ['a#1', [3, 'a#3']], 3),
    ])).toEqual(["agreement: position 2 below r1's position 3 was never delivered by any replica"])
  })

  it('ignores incarnations that are not serving at the end', () => {
    expect(checkAgreement([incarnation('r1', 0, [[5, 'a#5']])])).toEqual([])
  })
})
