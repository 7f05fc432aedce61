import { describe, expect, it } from 'vitest'
import { checkAgreedTime } from '../../src/sim/checkers/agreement-order'
import type { IncarnationRecord, MajorityDurable } from '../../src/sim/checkers/incarnation-record'

const delivery = (position: number, key: string, time: number) => ({ position, key, executed: true, time })

describe('checkAgreedTime', () => {
  it('flags two replicas with different times at one position, and a time that goes back along one replica', () => {
    const a: IncarnationRecord = { replica: 'r1', number: 0, deliveries: [delivery(1, 'c#1', 10), delivery(2, 'c#2', 20)], servingAt: 2 }
    const b: IncarnationRecord = { replica: 'r2', number: 0, deliveries: [delivery(1, 'c#1', 10), delivery(2, 'c#2', 25)], servingAt: 2 }
    expect(checkAgreedTime([a, b])).toEqual(['agreed time: at position 2 r1 had time 20 but r2 had 25'])
    const back: IncarnationRecord = { replica: 'r3', number: 0, deliveries: [delivery(1, 'c#1', 10), delivery(2, 'c#2', 9)], servingAt: 2 }
    expect(checkAgreedTime([back])).toEqual(['agreed time: r3 had time 9 at position 2, below 10 at position 1'])
  })

  it('with disks, a rolled-back first copy of a request (never on a majority of disks with its time) may have had another time', () => {
    // r3 delivered c#5 at 45 entering at time 564, then crashed in a blackout before a majority's disks held it;
    // the cluster resumed at 44 and the client's retry, entered at 2365, was ordered at 45 again.
    const lost: IncarnationRecord = { replica: 'r3', number: 1, deliveries: [delivery(45, 'c#5', 564)], crashed: true }
    const kept: IncarnationRecord = { replica: 'r1', number: 4, deliveries: [delivery(45, 'c#5', 2365)], servingAt: 45 }
    const durableAt = (time: number): MajorityDurable => ({ time: t }, withTime) => withTime === true && t === time
    expect(checkAgreedTime([lost, kept], new Map([['c#5', 45]]), durableAt(2365))).toEqual([])
    // Had a majority's disks held the first copy with its time, the two must agree.
    expect(checkAgreedTime([lost, kept], new Map([['c#5', 45]]), ({ time: t }, withTime) => withTime === true && (t === 564 || t === 2365))).toEqual(['agreed time: at position 45 r3 (restart 1) had time 564 but r1 (restart 4) had 2365'])
  })

  it('compares a delivery with the one before it in the state it extends, not with one a whole-state transfer rolled back', () => {
    // Seed 3006 (mutex, 5 replicas, real time): r4 delivered 20 to 23 in a view no majority's disks held, took
    // the state of the next view at 20 (rolling 20 to 23 back), delivered 21 there with time 2267, and crashed.
    const rolledBack = (position: number, key: string, time: number) => ({ ...delivery(position, key, time), superseded: true })
    const r4: IncarnationRecord = {
      replica: 'r4',
      number: 1,
      deliveries: [rolledBack(20, 'c6#3', 1470), rolledBack(21, 'c7#2', 1489), rolledBack(22, 'c6#3', 1547), rolledBack(23, 'c7#2', 1614), { ...delivery(21, 'c7#2', 2267), afterWholeStateTransfer: true }],
      crashed: true,
    }
    expect(checkAgreedTime([r4])).toEqual([])
    // Along the state it took, time still may not go back.
    const back: IncarnationRecord = { ...r4, deliveries: [...r4.deliveries, delivery(22, 'c1#4', 2000)] }
    expect(checkAgreedTime([back])).toEqual(['agreed time: r4 (restart 1) had time 2000 at position 22, below 2267 at position 21'])
    // The transferred state may hold its last position with a lower time than the incarnation's own rolled-back delivery there.
    const sameTop: IncarnationRecord = { replica: 'r2', number: 0, deliveries: [delivery(19, 'c#1', 900), rolledBack(20, 'c#2', 3000), { ...delivery(21, 'c#3', 2500), afterWholeStateTransfer: true }] }
    expect(checkAgreedTime([sameTop])).toEqual([])
    // Without a whole-state transfer, a delivery at or below the last position extends the state up to the one before it.
    const rolled: IncarnationRecord = { replica: 'r1', number: 0, deliveries: [delivery(1, 'c#1', 10), delivery(2, 'c#2', 50), delivery(3, 'c#3', 60), delivery(2, 'c#4', 5)] }
    expect(checkAgreedTime([rolled])).toEqual(['agreed time: r1 had time 5 at position 2, below 10 at position 1'])
  })

  it('without disks, an acknowledged request may have had another time at a replica that lost its copy unanswered', () => {
    // Seed 105 (kv, 5 replicas, real time, skew world): r1, alone behind a partition with its clock set ahead,
    // delivered its own copy of c1~1#10 at 22 with time 1739, never answered it, dropped its state and crashed; the
    // others had ordered the copy another replica stamped, time 1678, there, and answered it.
    const acknowledged = new Map([['c1~1#10', 22]])
    const kept: IncarnationRecord = { replica: 'r2', number: 0, deliveries: [{ ...delivery(22, 'c1~1#10', 1678), answered: true }], servingAt: 22 }
    const dropped: IncarnationRecord = { replica: 'r1', number: 0, deliveries: [{ ...delivery(22, 'c1~1#10', 1739), superseded: true }] }
    expect(checkAgreedTime([kept, dropped], acknowledged)).toEqual([])
    const crashed: IncarnationRecord = { replica: 'r1', number: 0, deliveries: [delivery(22, 'c1~1#10', 1739)], crashed: true }
    expect(checkAgreedTime([kept, crashed], acknowledged)).toEqual([])
    // Had it answered from that copy, or kept it (alive, never rolled back), the two must agree.
    const answered: IncarnationRecord = { ...dropped, deliveries: [{ ...delivery(22, 'c1~1#10', 1739), superseded: true, answered: true }] }
    expect(checkAgreedTime([kept, answered], acknowledged)).toEqual(['agreed time: at position 22 r2 had time 1678 but r1 had 1739'])
    const alive: IncarnationRecord = { replica: 'r1', number: 0, deliveries: [delivery(22, 'c1~1#10', 1739)], servingAt: 22 }
    expect(checkAgreedTime([kept, alive], acknowledged)).toEqual(['agreed time: at position 22 r2 had time 1678 but r1 had 1739'])
  })
})
