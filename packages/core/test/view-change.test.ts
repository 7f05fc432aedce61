import { describe, expect, it } from 'vitest'
import type { PromiseMessage, ViewValue } from '../src/engine/peer-messages'
import { Acceptor } from '../src/engine/view-change/acceptor'
import { ballotAbove, sameBallot } from '../src/engine/view-change/ballot'
import { coordinatorTurnDue, highestAccepted, proposeNextView } from '../src/engine/view-change/coordinator'
import { majorityOf } from '../src/engine/view-change/quorum'

const value = (id: number, members: string[]): ViewValue => ({ view: { id, members }, joining: [], incarnations: {}, boundary: id })
const promise = (from: string, suspects: string[], accepted: PromiseMessage['accepted'] = null): [string, PromiseMessage] => [
  from,
  { kind: 'promise', view: 2, ballot: { round: 1, coordinator: 'r1' }, report: from, suspects, accepted },
]

describe('ballots and quorums', () => {
  it('orders ballots by round, then by coordinator id', () => {
    expect(ballotAbove({ round: 2, coordinator: 'r1' }, { round: 1, coordinator: 'r9' })).toBe(true)
    expect(ballotAbove({ round: 1, coordinator: 'r2' }, { round: 1, coordinator: 'r1' })).toBe(true)
    expect(ballotAbove({ round: 1, coordinator: 'r1' }, { round: 1, coordinator: 'r1' })).toBe(false)
    expect(ballotAbove({ round: 1, coordinator: 'r1' }, null)).toBe(true)
    expect(sameBallot({ round: 1, coordinator: 'r1' }, { round: 1, coordinator: 'r1' })).toBe(true)
  })

  it('a majority of n is more than half, so two majorities always share a member', () => {
    expect([1, 2, 3, 4, 5, 7].map(majorityOf)).toEqual([1, 2, 2, 3, 3, 4])
    for (let n = 1; n <= 9; n++) expect(2 * majorityOf(n)).toBeGreaterThan(n)
  })
})

describe('the Paxos acceptor', () => {
  it('promises a higher or the same ballot and refuses a lower one, naming what it promised', () => {
    const a = new Acceptor()
    expect(a.prepare({ round: 2, coordinator: 'r2' })).toBeUndefined()
    expect(a.prepare({ round: 2, coordinator: 'r2' })).toBeUndefined()
    expect(a.prepare({ round: 1, coordinator: 'r3' })).toEqual({ round: 2, coordinator: 'r2' })
    expect(a.prepare({ round: 2, coordinator: 'r1' })).toEqual({ round: 2, coordinator: 'r2' })
  })

  it('accepts unless it promised a higher ballot, and remembers the accepted value until reset', () => {
    const a = new Acceptor()
    a.prepare({ round: 3, coordinator: 'r1' })
    expect(a.accept({ round: 2, coordinator: 'r1' }, value(2, ['r1']))).toEqual({ round: 3, coordinator: 'r1' })
    expect(a.accepted).toBeNull()
    expect(a.accept({ round: 3, coordinator: 'r1' }, value(2, ['r1', 'r2']))).toBeUndefined()
    expect(a.accepted?.value.view.members).toEqual(['r1', 'r2'])
    a.reset()
    expect(a.promised).toBeNull()
    expect(a.accepted).toBeNull()
  })
})

describe('the coordinator', () => {
  it('must propose again the value accepted in the highest ballot among the promises', () => {
    const low = { ballot: { round: 1, coordinator: 'r3' }, value: value(2, ['r1', 'r3']) }
    const high = { ballot: { round: 2, coordinator: 'r2' }, value: value(2, ['r1', 'r2']) }
    const promises = new Map([promise('r1', [], low), promise('r2', [], high), promise('r3', [])])
    expect(highestAccepted(promises.values())).toBe(high)
    expect(highestAccepted(new Map([promise('r1', [])]).values())).toBeNull()
  })

  it('removes members a majority of promisers suspect and that did not promise, adds joiners, and drops operator removals', () => {
    const promises = new Map([promise('r1', ['r3']), promise('r2', ['r3', 'r4'])])
    const next = proposeNextView({
      current: { id: 1, members: ['r1', 'r2', 'r3', 'r4', 'r5'] },
      promises,
      removals: new Set(['r5']),
      joinRequests: new Map([['r6', 42]]),
      majority: 2,
      boundary: 'b',
    })
    expect(next).toEqual({ view: { id: 2, members: ['r1', 'r2', 'r4', 'r6'] }, joining: ['r6'], incarnations: { r6: 42 }, boundary: 'b' })
  })

  it('takes turns: the lowest unsuspected member first, the next one a timeout later, everyone waits again after progress', () => {
    const turn = (self: string, lastActivity = -Infinity) =>
      coordinatorTurnDue({ self, members: ['r1', 'r2', 'r3'], suspects: ['r1'], joinRequests: new Map(), needSince: 100, lastActivity, timeoutMs: 50 })
    expect(turn('r2')).toBe(100) // r1 is suspected here: r2 is first
    expect(turn('r3')).toBe(150)
    expect(turn('r2', 120)).toBe(170) // someone was at work since the need arose
    expect(coordinatorTurnDue({ self: 'r4', members: ['r1', 'r2', 'r3'], suspects: [], joinRequests: new Map(), needSince: 0, lastActivity: -Infinity, timeoutMs: 50 })).toBeUndefined()
  })
})
