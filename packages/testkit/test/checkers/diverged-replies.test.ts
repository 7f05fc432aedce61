import { describe, expect, it } from 'vitest'
import { checkDivergedReplies } from '../../src/sim/checkers/diverged-replies'
import type { IncarnationRecord } from '../../src/sim/checkers/incarnation-record'
import { incarnation } from './records'

/** r2 delivered c2#1 then c1#1 (out of order) before its orderer diverged; it rolled both back by state transfer. */
const diverged: IncarnationRecord = {
  replica: 'r2',
  number: 0,
  deliveries: [
    { position: 1, key: 'c2#1', executed: true, superseded: true },
    { position: 2, key: 'c1#1', executed: true, superseded: true },
  ],
}
const healthy = [incarnation('r1', 0, ['c1#1', 'c2#1'], 2), incarnation('r3', 0, ['c1#1', 'c2#1'], 2)]

describe('checkDivergedReplies', () => {
  it('a diverged replica whose rolled-back deliveries no client took a result from is no violation', () => {
    const acknowledgedAt = new Map([['c1#1', 1], ['c2#1', 2]])
    const sent = (replica: string, key: string, position: number) => (replica === 'r1' ? { incarnation: healthy[0]!, state: key === 'c1#1' ? [[1, 'c1#1'] as const] : [[1, 'c1#1'] as const, [position, key] as const] } : undefined)
    expect(checkDivergedReplies([...healthy, diverged], { acknowledgedAt, acknowledgedFrom: new Map([['c1#1', 'r1'], ['c2#1', 'r1']]), sent })).toEqual([])
  })

  it('a result a client took from a diverged state is a violation, even at the position the cluster gave the request', () => {
    // c2#1 was acknowledged at 2 (where the cluster has it) but by r2, whose state had c2#1 at 1 and c1#1 at 2.
    const diverged2: IncarnationRecord = { replica: 'r2', number: 0, deliveries: [{ position: 1, key: 'c2#1', executed: true, superseded: true }, { position: 2, key: 'c2#1', executed: true }] }
    const acknowledgedAt = new Map([['c1#1', 1], ['c2#1', 2]])
    const sent = (replica: string, key: string) =>
      replica === 'r2' && key === 'c2#1' ? { incarnation: diverged2, state: [[1, 'c2#1'] as const, [2, 'c2#1'] as const] } : undefined
    expect(checkDivergedReplies([...healthy, diverged2], { acknowledgedAt, acknowledgedFrom: new Map([['c1#1', 'r1'], ['c2#1', 'r2']]), sent })).toEqual([
      "diverged reply: c2#1 was acknowledged at position 2 by r2, whose state held c2#1 at position 1, where the cluster's order has c1#1 (r1): a client received a result from a diverged state",
    ])
  })
})
