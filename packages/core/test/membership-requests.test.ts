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

describe('replicas an operator removed', () => {
  it('stay refused after a restart, by the removal its view names, until an operator admits them', () => {
    const asks = new MembershipRequests(silentLogger, () => 0)
    // Restarted from a disk whose view names r3 as removed: it never heard the operator's command.
    asks.restoreRemoved(['r3'])
    expect(asks.refuses('r3')).toBe(true)
    asks.askedToJoin('r3', 7, 'join', view)
    expect([...asks.joins]).toEqual([])
    expect(asks.pending(view.members, ['r1', 'r2', 'r4', 'r5'])).toBe(false)
    // A member the view names as removed (made by an earlier version) is work for a view change.
    expect(asks.pending([...view.members, 'r3'], ['r1', 'r2', 'r4', 'r5'])).toBe(true)
    asks.admit('r3')
    expect(asks.refuses('r3')).toBe(false)
    asks.askedToJoin('r3', 7, 'join', view)
    expect([...asks.joins]).toEqual([['r3', 7]])
    // The view that admits it no longer names it.
    asks.installed({ view: { id: 10, members: [...view.members, 'r3'] }, configuration: ['r1', 'r2', 'r3', 'r4', 'r5'], joining: ['r3'], incarnations: { r3: 7 }, boundary: undefined })
    expect(asks.refuses('r3')).toBe(false)
    expect(asks.removedInView).toEqual([])
  })
})
