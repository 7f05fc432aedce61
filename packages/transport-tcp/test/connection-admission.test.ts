import { describe, expect, it } from 'vitest'
import { ConnectionAdmission, EVICTABLE_HANDSHAKE_AGE_MS } from '../src/connection-admission'
import { DEFAULT_LIMITS } from '../src/options'

describe('ConnectionAdmission', () => {
  it('makes room by closing the oldest unfinished handshake once it is old enough; never an authenticated one', () => {
    let now = 0
    const admission = new ConnectionAdmission({ ...DEFAULT_LIMITS, maxPendingHandshakes: 2, maxConnections: 3 }, () => now)
    const closed: string[] = []
    const admit = (name: string, address = `10.0.0.${name.length}`) => admission.admit(address, () => closed.push(name))
    const a = admit('a')
    const b = admit('bb')
    expect(a.admitted && b.admitted).toBe(true)
    // Both handshakes are young: the third is refused.
    expect(admit('ccc')).toMatchObject({ admitted: false, limit: 'maxPendingHandshakes' })
    now += EVICTABLE_HANDSHAKE_AGE_MS
    // Old enough now: the oldest, a, makes room.
    const c = admit('ccc')
    expect(c.admitted).toBe(true)
    expect(closed).toEqual(['a'])
    expect(c.evicted).toEqual([{ address: '10.0.0.1', limit: 'maxPendingHandshakes' }])
    if (a.admitted) a.ticket.release() // its socket closes later: counted once only
    expect([admission.connections, admission.pendingHandshakes]).toEqual([2, 2])
    if (b.admitted) b.ticket.authenticated()
    if (c.admitted) c.ticket.authenticated()
    expect(admit('dddd').admitted).toBe(true)
    // Three connections, two authenticated, one young handshake: the fifth is refused at maxConnections.
    expect(admit('eeeee')).toMatchObject({ admitted: false, limit: 'maxConnections' })
    now += EVICTABLE_HANDSHAKE_AGE_MS
    // Only the unfinished handshake makes room, never an authenticated connection.
    expect(admit('eeeee')).toMatchObject({ admitted: true, evicted: [{ address: '10.0.0.4', limit: 'maxConnections' }] })
    expect(closed).toEqual(['a', 'dddd'])
    expect([admission.connections, admission.pendingHandshakes]).toEqual([3, 1])
  })
})
