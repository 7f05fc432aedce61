import { describe, expect, it } from 'vitest'
import { silentLogger } from '@lockstep/interface'
import { MembershipRequests } from '../src/engine/membership-requests'

const view = { id: 9, members: ['r1', 'r2', 'r4', 'r5'] }

describe('requests to join', () => {
  it('a request not asked again within the window is dropped; one asked again stays, and one dropped comes back when asked again', () => {
    let now = 1_000
    const asks = new MembershipRequests(silentLogger, () => now)
    asks.askedToJoin('r3', 7, 'join', view)
    asks.askedToJoin('r6', 2, 'recover', view)
    now = 1_500
    asks.askedToJoin('r6', 2, 'recover', view) // r6 asks again, r3 does not (it crashed for good)
    now = 1_599
    asks.expire(600)
    expect([...asks.joins.keys()]).toEqual(['r3', 'r6'])
    now = 1_999
    asks.expire(600)
    expect([...asks.joins.keys()]).toEqual(['r6'])
    expect(asks.pending(view.members, ['r1', 'r2', 'r3', 'r4', 'r5', 'r6'])).toBe(true)
    now = 2_100
    asks.expire(600)
    expect([...asks.joins]).toEqual([])
    expect(asks.pending(view.members, ['r1', 'r2', 'r3', 'r4', 'r5', 'r6'])).toBe(false)
    // r3 is back and asks again: its request counts at once.
    asks.askedToJoin('r3', 7, 'join', view)
    expect([...asks.joins]).toEqual([['r3', 7]])
  })
})

describe('an installed view and the requests to join of its members', () => {
  // Seed 21 (mutex, 5 replicas) needed both halves of its fix in `installed`; each half alone hides the other's
  // absence in that schedule, so each has a test of its own here.
  const members = ['r1', 'r2', 'r3']

  it('records the incarnation a view that resumes from disks names for each member: a late request of it is stale', () => {
    const asks = new MembershipRequests(silentLogger, () => 0)
    // View 4 resumes the cluster from the disks of r1 and r2 (no joiners): it names each member's incarnation.
    asks.installed({ view: { id: 4, members }, configuration: members, joining: [], incarnations: { r1: 5, r2: 6 }, boundary: undefined })
    expect(asks.admitted.get('r2')).toBe(6)
    // r2's request to join, made while it waited outside and delayed, arrives now: the view already admitted it.
    asks.askedToJoin('r2', 6, 'join', { id: 4, members })
    expect([...asks.joins]).toEqual([])
    expect(asks.pending(members, members)).toBe(false)
    // A later incarnation of r2 (it restarted with amnesia since) does need to join.
    asks.askedToJoin('r2', 8, 'join', { id: 4, members })
    expect([...asks.joins]).toEqual([['r2', 8]])
  })

  it('drops a request to join held from a member the view carries on (not a joiner): no view would ever add it', () => {
    const asks = new MembershipRequests(silentLogger, () => 0)
    // r2 asked to join in view 3 (a late message, or asked while outside); view 4 carries it on with its live state.
    asks.askedToJoin('r2', 9, 'join', { id: 3, members: ['r1', 'r3'] })
    expect([...asks.joins]).toEqual([['r2', 9]])
    asks.installed({ view: { id: 4, members }, configuration: members, joining: [], incarnations: {}, boundary: undefined })
    expect([...asks.joins]).toEqual([])
    expect(asks.pending(members, members)).toBe(false)
    // A joiner's request stays until a view admits the incarnation it asked with.
    asks.askedToJoin('r4', 2, 'join', { id: 4, members })
    asks.installed({ view: { id: 5, members: [...members, 'r4'] }, configuration: [...members, 'r4'], joining: ['r4'], incarnations: { r4: 1 }, boundary: undefined })
    expect([...asks.joins]).toEqual([['r4', 2]])
  })
})

describe('replicas an operator removed', () => {
  // View 7 removed r3 (its value names it in `changes` and its configuration lacks it).
  const removedIn7 = { view: { id: 7, members: view.members }, configuration: ['r1', 'r2', 'r4', 'r5'], joining: [], incarnations: {}, boundary: undefined, changes: { r3: 7 } }

  it('stay refused after a restart, by the removal its view names, until an operator admits them', () => {
    const asks = new MembershipRequests(silentLogger, () => 0)
    // Restarted from a disk whose view removed r3: it never heard the operator's command.
    asks.restoreChanges(removedIn7)
    expect(asks.refuses('r3')).toBe(true)
    asks.askedToJoin('r3', 7, 'join', view)
    expect([...asks.joins]).toEqual([])
    expect(asks.pending(view.members, removedIn7.configuration)).toBe(false)
    // A member the view names as removed (made by an earlier version) is work for a view change.
    expect(asks.pending([...view.members, 'r3'], removedIn7.configuration)).toBe(true)
    asks.admit('r3', 9)
    expect(asks.refuses('r3')).toBe(false)
    asks.askedToJoin('r3', 7, 'join', view)
    expect([...asks.joins]).toEqual([['r3', 7]])
    // The view that admits it records the change, and no longer refuses it.
    asks.installed({ view: { id: 10, members: [...view.members, 'r3'] }, configuration: ['r1', 'r2', 'r3', 'r4', 'r5'], joining: ['r3'], incarnations: { r3: 7 }, boundary: undefined, changes: { r3: 10 } })
    expect(asks.refuses('r3')).toBe(false)
    expect(asks.changes).toEqual({ r3: 10 })
  })

  it('ignore a command issued before the last change of the replica, and drop one still waiting once a view carries out a later change', () => {
    const asks = new MembershipRequests(silentLogger, () => 0)
    // r3 held its own removal (issued in view 6) while a view removed it (7) and another admitted it again (11).
    asks.remove('r3', 6)
    asks.installed({ view: { id: 11, members: [...view.members, 'r3'] }, configuration: ['r1', 'r2', 'r3', 'r4', 'r5'], joining: ['r3'], incarnations: { r3: 7 }, boundary: undefined, changes: { r3: 11 } })
    expect([...asks.removals]).toEqual([])
    expect(asks.pending([...view.members, 'r3'], ['r1', 'r2', 'r3', 'r4', 'r5'])).toBe(false)
    // A removal issued in view 6 that arrives late is stale; one issued in view 11 or later is not.
    asks.remove('r3', 6)
    expect([...asks.removals]).toEqual([])
    asks.remove('r3', 11)
    expect([...asks.removals]).toEqual(['r3'])
    // A command without a view (an earlier version's) counts as before.
    asks.admit('r3')
    expect([...asks.admissions]).toEqual(['r3'])
    // A removal held by a partition that arrives after a later admission of the same replica is stale, though the
    // admission changed nothing (the replica was still in the configuration).
    const overtaken = new MembershipRequests(silentLogger, () => 0)
    overtaken.admit('r5', 5)
    overtaken.remove('r5', 1)
    expect([...overtaken.removals]).toEqual([])
    overtaken.remove('r5', 5) // issued in the same view: taken in the order it arrives
    expect([...overtaken.removals]).toEqual(['r5'])
    // An admission issued before the removal that view 7 carried out is stale.
    const other = new MembershipRequests(silentLogger, () => 0)
    other.restoreChanges(removedIn7)
    other.admit('r3', 6)
    expect(other.refuses('r3')).toBe(true)
  })
})
