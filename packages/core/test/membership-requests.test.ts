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
