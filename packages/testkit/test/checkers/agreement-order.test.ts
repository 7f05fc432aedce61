import { describe, expect, it } from 'vitest'
import { checkAgreedTime, checkAgreement, checkOrder } from '../../src/sim/checkers/agreement-order'
import type { IncarnationRecord, MajorityDurable } from '../../src/sim/checkers/incarnation-record'
import { DiskHoldings } from '../../src/sim/checkers/disk-holdings'
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
    expect(checkOrder([survivors, rolledBack], new Map(), ({ position, key }) => position === 2 && key === 'x#1')).toEqual(['order: at position 2 r2 delivered b#1 but r3 delivered x#1'])
    // A live incarnation that did not roll it back is held to it.
    expect(checkOrder([survivors, incarnation('r1', 0, ['a#1', 'x#1'])], new Map(), () => false)).toEqual(['order: at position 2 r2 delivered b#1 but r1 delivered x#1'])
  })

  it('lets the cluster lose what an incarnation that dropped its state on finding its order diverged delivered and never answered, and nothing else', () => {
    const survivors = incarnation('r2', 0, ['a#1', 'b#1'])
    const dropped = { ...incarnation('r1', 0, ['a#1', 'x#1']), droppedState: true }
    expect(checkOrder([survivors, dropped], new Map(), () => false)).toEqual([])
    expect(checkOrder([survivors, dropped], new Map([['x#1', 2]]), () => false)).toEqual(['order: at position 2 r2 delivered b#1 but r1 delivered x#1'])
    expect(checkOrder([survivors, dropped], new Map(), ({ position, key }) => position === 2 && key === 'x#1')).toEqual(['order: at position 2 r2 delivered b#1 but r1 delivered x#1'])
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

describe('agreed-time checker', () => {
  /** An incarnation that delivered `[key, time]` at positions 1, 2, … */
  const timed = (replica: string, number: number, requests: readonly (readonly [string, number])[], extra: Partial<IncarnationRecord> = {}): IncarnationRecord => ({
    replica,
    number,
    deliveries: requests.map(([key, time], i) => ({ position: i + 1, key, executed: true, time })),
    ...extra,
  })

  it('flags two replicas with different times at one position, and a time that decreases', () => {
    expect(checkAgreedTime([timed('r1', 0, [['a#1', 10], ['b#1', 20]], { servingAt: 2 }), timed('r2', 0, [['a#1', 10], ['b#1', 25]], { servingAt: 2 })])).toEqual(['agreed time: at position 2 r1 had time 20 but r2 had 25'])
    expect(checkAgreedTime([timed('r1', 0, [['a#1', 10], ['b#1', 5]])])).toEqual(['agreed time: r1 had time 5 at position 2, below 10 at position 1'])
  })

  // The world simulator, 3 replicas, durable, seed 11 (mutex, real-time orderer): r3 delivered c2#3 at position 11
  // with time 630 and lost it in a blackout (no disk held it); the client retried, the request entered again
  // (time 882) and was delivered, acknowledged and kept at position 11. The lost execution was never seen.
  it('lets a lost delivery differ in time from the one that replaced it at the same position, when the request was retried', () => {
    const lost = timed('r3', 0, [['a#1', 10], ['c2#3', 630]], { crashed: true })
    const kept = timed('r1', 2, [['a#1', 10], ['c2#3', 882]])
    const acknowledged = new Map([['c2#3', 2]])
    const durable: MajorityDurable = ({ position, key, time }, withTime) => position === 1 || (position === 2 && key === 'c2#3' && (!withTime || time === 882))
    expect(checkAgreedTime([lost, kept], acknowledged, durable)).toEqual([])
    // A delivery a majority's disks held with its time is binding, crashed or not.
    const durableBoth: MajorityDurable = ({ position }) => position <= 2
    expect(checkAgreedTime([lost, kept], acknowledged, durableBoth)).toEqual(['agreed time: at position 2 r3 had time 630 but r1 (restart 2) had 882'])
    // So is one made by an incarnation that did not crash and serves at the end.
    expect(checkAgreedTime([{ ...lost, crashed: false, servingAt: 2 }, kept], acknowledged, durable)).toEqual(['agreed time: at position 2 r3 had time 630 but r1 (restart 2) had 882'])
    // One that did not crash but ends out of service (it could not take the cluster's state) will replace it: not binding.
    expect(checkAgreedTime([{ ...lost, crashed: false }, kept], acknowledged, durable)).toEqual([])
  })
})

describe('disks held by a majority (DiskHoldings)', () => {
  // Found (sweep beyond CI's seeds, real time, register, 3 replicas, 4 clients × 4 in flight, every fault with
  // pauses, seed 20019): r3 delivered c4#12 at 40 on an order the cluster then lost (only its disk held it); r2
  // later delivered c4#12 at 40 too, on another order (its own 38 and 39 differ), which was lost as well. The two
  // disks held "c4#12 at 40" from different orders, counted as a majority, and the checker then held r3's lost
  // delivery against the acknowledged c3#13 at 40.
  const at = (position: number, key: string, orderDigest: string) => ({ position, key, executed: true, orderDigest })

  it('counts disks together only when they hold the same order up to the delivery (its order digest)', () => {
    const disks = new DiskHoldings()
    disks.held('r3', at(40, 'c4#12', 'branch-a'))
    disks.held('r2', at(40, 'c4#12', 'branch-b'))
    const majority = disks.majorityDurable(2)
    expect(majority(at(40, 'c4#12', 'branch-a'))).toBe(false)
    expect(majority(at(40, 'c4#12', 'branch-a'), true)).toBe(false)
    disks.held('r1', at(40, 'c4#12', 'branch-a'))
    expect(majority(at(40, 'c4#12', 'branch-a'))).toBe(true)
    expect(majority(at(40, 'c4#12', 'branch-b'))).toBe(false)
  })

  it('counts deliveries recorded without an order digest by request and position, as before', () => {
    const disks = new DiskHoldings()
    disks.held('r1', { position: 5, key: 'c1#2', executed: true, time: 7 })
    disks.held('r2', { position: 5, key: 'c1#2', executed: true, time: 9 })
    const majority = disks.majorityDurable(2)
    expect(majority({ position: 5, key: 'c1#2', executed: true, time: 7 })).toBe(true)
    expect(majority({ position: 5, key: 'c1#2', executed: true, time: 7 }, true)).toBe(false)
    expect(majority({ position: 5, key: 'c1#2', executed: false })).toBe(false)
  })

  it('lets the cluster lose a delivery whose request and position a majority held only on different orders', () => {
    const disks = new DiskHoldings()
    const lost = { replica: 'r3', number: 0, crashed: true, deliveries: [at(39, 'c1#11', 'a39'), at(40, 'c4#12', 'a40')] }
    const otherLost = { replica: 'r2', number: 1, deliveries: [{ ...at(39, 'c1#12', 'b39'), superseded: true }, { ...at(40, 'c4#12', 'b40'), superseded: true }] }
    const kept = { replica: 'r1', number: 2, deliveries: [at(39, 'c3#12', 'c39'), at(40, 'c3#13', 'c40')] }
    for (const record of [lost, otherLost]) for (const delivery of record.deliveries) disks.held(record.replica, delivery)
    disks.held('r1', at(39, 'c3#12', 'c39'))
    disks.held('r1', at(40, 'c3#13', 'c40'))
    disks.held('r3', at(39, 'c3#12', 'c39'))
    disks.held('r3', at(40, 'c3#13', 'c40'))
    expect(checkOrder([lost, otherLost, kept], new Map([['c3#13', 40]]), disks.majorityDurable(2))).toEqual([])
  })
})
