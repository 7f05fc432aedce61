import { describe, expect, it } from 'vitest'
import { kv } from '@lockstep/machines'
import { crashTolerantOrderer } from '@lockstep/interface'
import { EngineInvariants, type EngineObservation } from '../src/engine/invariants'
import { ReplicaEngine } from '../src/index'
import { immediate } from './helpers'

const observe = (over: Partial<EngineObservation> = {}): EngineObservation => ({
  status: 'normal',
  view: { id: 1, members: ['r1', 'r2', 'r3'] },
  position: 0,
  promised: false,
  coordinating: undefined,
  restartedFromDisk: false,
  restores: 0,
  ...over,
})

describe('the engine invariants', () => {
  it('hold for a well-behaved sequence of observations', () => {
    const check = new EngineInvariants()
    expect(check.afterEvent(observe({ position: 3 }))).toEqual([])
    expect(check.afterEvent(observe({ position: 3, status: 'frozen', promised: true, coordinating: 2 }))).toEqual([])
    expect(check.afterEvent(observe({ position: 5, view: { id: 2, members: ['r1', 'r2'] } }))).toEqual([])
    // Taking a transferred state may roll back deliveries no majority held; then it moves on from there.
    expect(check.afterEvent(observe({ position: 4, view: { id: 3, members: ['r1', 'r2'] }, restores: 1 }))).toEqual([])
    expect(check.afterEvent(observe({ position: 3, view: { id: 3, members: ['r1', 'r2'] }, restores: 1 }))).toEqual(['the position went back from 4 to 3'])
  })

  it('each one fires on a bad observation', () => {
    const cases: [EngineObservation[], RegExp][] = [
      [[observe({ position: 5 }), observe({ position: 4 })], /position went back from 5 to 4/],
      [[observe({ view: { id: 3, members: ['r1'] } }), observe()], /view went back from 3 to 1/],
      [[observe(), observe({ view: { id: 1, members: ['r1', 'r2'] } })], /view 1 changed its members/],
      [[observe({ status: 'frozen' })], /frozen without having promised/],
      [[observe({ view: { id: 3, members: ['r1'] }, coordinating: 3 })], /coordinating view 3 from view 3/],
    ]
    for (const [observations, expected] of cases) {
      const check = new EngineInvariants()
      const violations = observations.flatMap((o) => check.afterEvent(o))
      expect(violations.join('; ')).toMatch(expected)
    }
    // A view whose members list is changed in place, under the same number, is caught too.
    const view = { id: 4, members: ['r1', 'r2', 'r3'] }
    const check = new EngineInvariants()
    expect(check.afterEvent(observe({ view }))).toEqual([])
    view.members.pop()
    expect(check.afterEvent(observe({ view }))).toEqual(['view 4 changed its members from [r1,r2,r3] to [r1,r2]'])
    expect(check.afterEvent(observe({ view: { id: 4, members: ['r1', 'r3', 'r2'] } }))).toEqual(['view 4 changed its members from [r1,r2,r3] to [r1,r3,r2]'])
    expect(new EngineInvariants().onDeliver('frozen', false, false)).toBe('delivered a request while frozen')
    expect(new EngineInvariants().onDeliver('frozen', true, false)).toBeUndefined() // the view-change flush
    expect(new EngineInvariants().onDeliver('recovering', false, true)).toBeUndefined() // replaying the disk's log
  })

  it('an engine checking its invariants throws INTERNAL when an orderer delivers while the replica is frozen', () => {
    let deliver: ((request: { client: string; seq: number; command: unknown }) => void) | undefined
    const engine = new ReplicaEngine({
      self: 'r1',
      machine: kv,
      orderer: (ctx) => {
        deliver = ctx.deliver
        return { ...immediate(ctx), [crashTolerantOrderer]: true as const, freeze: () => ({}), mergeReports: () => ({}), install: () => true }
      },
      clock: { now: () => 0 },
      view: { id: 1, members: ['r1', 'r2', 'r3'] },
      effects: { sendToPeer: () => {}, sendToClient: () => {} },
      membership: {},
      startAs: 'member',
      checkInvariants: true,
    })
    engine.onPeerMessage('r2', { kind: 'prepare', view: 2, ballot: { round: 1, coordinator: 'r2' } })
    expect(engine.status).toBe('frozen')
    expect(() => deliver!({ client: 'c1', seq: 1, command: { name: 'get', args: { key: 'a' } } })).toThrow(/INTERNAL|broke an invariant: delivered a request while frozen/)
  })
})
