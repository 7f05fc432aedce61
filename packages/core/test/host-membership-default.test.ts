import { describe, expect, it } from 'vitest'
import { kv } from '@lockstep/machines'
import { DEFAULT_MEMBERSHIP, ReplicaHost, memoryStorage } from '../src/index'
import { immediate, loneMember } from './helpers'



describe('ReplicaHost detects failures unless told not to', () => {
  it(`without membership options: a member silent longer than ${DEFAULT_MEMBERSHIP.suspectAfterMs} ms is suspected`, () => {
    const { host, clock } = loneMember({})
    clock.nowMs = DEFAULT_MEMBERSHIP.suspectAfterMs
    expect(host.engine.suspected).toEqual([])
    clock.nowMs = DEFAULT_MEMBERSHIP.suspectAfterMs + 1
    expect(host.engine.suspected).toEqual(['r2', 'r3'])
  })

  it('the defaults suspect a stopped replica within a few hundred milliseconds', () => {
    expect(DEFAULT_MEMBERSHIP).toEqual({ heartbeatMs: 50, suspectAfterMs: 300, viewChangeTimeoutMs: 1000 })
  })

  it('given options override the defaults one by one', () => {
    const { host, clock } = loneMember({ membership: { suspectAfterMs: 2000 } })
    clock.nowMs = 1000
    expect(host.engine.suspected).toEqual([])
    clock.nowMs = 2001
    expect(host.engine.suspected).toEqual(['r2', 'r3'])
  })

  it('membership: false turns failure detection off: nobody is ever suspected', () => {
    const { host, clock } = loneMember({ membership: false })
    clock.nowMs = 60_000
    expect(host.engine.suspected).toEqual([])
  })

  it('by default an orderer that cannot change views is refused, saying how to run it without', () => {
    const build = (membership?: false) => new ReplicaHost({ self: 'r1', replicas: ['r1'], machine: kv, orderer: immediate, transport: (c) => ({ self: c.self, start: async () => {}, send() {}, sendToClient() {}, stop: async () => {} }), ...(membership === false ? { membership } : {}) })
    expect(() => build()).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG', message: expect.stringContaining('pass `membership: false`') as unknown }))
    expect(() => build(false)).not.toThrow()
  })

  it('durable storage with membership: false is refused', () => {
    expect(() => loneMember({ membership: false, storage: memoryStorage() })).toThrow(
      expect.objectContaining({ code: 'INVALID_CONFIG', message: expect.stringContaining('durable storage needs membership') as unknown }),
    )
  })

  it('a membership value that is neither options nor false is refused', () => {
    expect(() => loneMember({ membership: true as unknown as false })).toThrow(
      expect.objectContaining({ code: 'INVALID_CONFIG', message: expect.stringContaining('membership must be an object of options (or false') as unknown }),
    )
  })
})
