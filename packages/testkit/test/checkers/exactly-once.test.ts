import { describe, expect, it } from 'vitest'
import { DiskHoldings } from '../../src/sim/checkers/disk-holdings'
import { checkExactlyOnce } from '../../src/sim/checkers/exactly-once'
import { incarnation } from './records'

describe('exactly-once checker', () => {
  it('passes duplicates that the session table answered without executing them again', () => {
    expect(checkExactlyOnce([
      incarnation('r1', 0, ['c1#1', 'c1#1!', 'c1#2']),
      incarnation('r2', 0, ['c1#1', 'c1#1!', 'c1#2']),
    ])).toEqual([])
  })

  it('flags an incarnation that executed a request twice', () => {
    expect(checkExactlyOnce([incarnation('r2', 1, ['c1#1', 'c1#1', 'c1#2', 'c1#2'])])).toEqual([
      'exactly-once: r2 (restart 1) executed 2 requests twice',
      'exactly-once: c1#1 executed at positions 1 and 2',
      'exactly-once: c1#2 executed at positions 3 and 4',
    ])
  })

  it('flags a request executed at two positions by different replicas', () => {
    expect(checkExactlyOnce([
      incarnation('r1', 0, ['c1#1', 'c2#1']),
      incarnation('r2', 0, ['c2#1', 'c1#1']),
    ])).toEqual(['exactly-once: c2#1 executed at positions 2 and 1', 'exactly-once: c1#1 executed at positions 1 and 2'])
  })

  // The world simulator, 5 replicas, durable, seed 3034 (register, Lamport orderer): r1 alone installed view 9,
  // whose flush executed c2#47 at position 167 on its disk only, and crashed; the others restarted from their
  // disks at position 165 and the cluster resumed without that flush (nothing of it was acknowledged). There c2#47
  // ran at 166, and a retry of it came again at 167, answered from the session table: a majority's disks hold
  // c2#47 at 167 as a duplicate, which does not keep r1's lost execution there.
  it('does not count a lost execution as held by a majority whose disks hold the same request there as a duplicate', () => {
    const lost = { ...incarnation('r1', 0, [[166, 'c1#35'], [167, 'c2#47']]), crashed: true }
    const kept = ['r2', 'r3', 'r4'].map((replica) => incarnation(replica, 1, [[166, 'c2#47'], [167, 'c2#47!']]))
    const disks = new DiskHoldings()
    for (const record of [lost, ...kept]) for (const delivery of record.deliveries) disks.held(record.replica, delivery)
    const acknowledged = new Map([['c2#47', 166]])
    expect(checkExactlyOnce([lost, ...kept], acknowledged, disks.majorityDurable(3))).toEqual([])
    // The same request executed at 167 on a majority's disks is binding, crashed or not.
    const executedThere = ['r2', 'r3'].map((replica) => incarnation(replica, 1, [[166, 'c1#35'], [167, 'c2#47']]))
    for (const record of executedThere) for (const delivery of record.deliveries) disks.held(record.replica, delivery)
    expect(checkExactlyOnce([lost, ...kept], acknowledged, disks.majorityDurable(3))).toEqual(['exactly-once: c2#47 executed at positions 167 and 166'])
  })
})
