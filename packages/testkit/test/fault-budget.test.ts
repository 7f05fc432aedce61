import { describe, expect, it } from 'vitest'
import { FaultBudget } from '../src/sim/fault-budget'
import type { SimCluster } from '../src/sim/sim-cluster'

/** Five replicas as the budget sees them: which run, and which serve. */
function world(down: string[] = [], notServing: string[] = []) {
  const state = { down: new Set(down), notServing: new Set(notServing), paused: new Set<string>(), diskAt: new Map<string, number>() }
  const cluster = {
    initialMembers: ['r1', 'r2', 'r3', 'r4', 'r5'],
    members: ['r1', 'r2', 'r3', 'r4', 'r5'],
    isRunning: (id: string) => !state.down.has(id),
    isPaused: (id: string) => state.paused.has(id),
    isServing: (id: string) => !state.down.has(id) && !state.notServing.has(id),
    diskPosition: (id: string) => state.diskAt.get(id) ?? 0,
  } as unknown as SimCluster
  return { budget: new FaultBudget(cluster), state }
}

describe('the fault budget', () => {
  it('allows F = ⌊(n−1)/2⌋ faulty replicas, counting down, partitioned and slow ones once each', () => {
    const { budget } = world(['r1'])
    expect(budget.limit).toBe(2)
    budget.partitionStarted(['r1', 'r2'])
    budget.slowStarted('r2')
    expect([...budget.faulty()]).toEqual([['r1', 'down, partitioned'], ['r2', 'partitioned, slow']])
    expect(budget.allows(['r1', 'r2'])).toBe(true) // already faulty: they cost nothing
    expect(budget.allows(['r3'])).toBe(false)
    budget.partitionEnded(['r1', 'r2'])
    budget.slowEnded('r2')
    expect(budget.allows(['r3'])).toBe(true)
  })

  it('counts a replica an operator removed until its removal ends (it serves again after its admission)', () => {
    const { budget } = world(['r1'])
    budget.removalStarted('r2')
    expect([...budget.faulty()]).toEqual([['r1', 'down'], ['r2', 'removed by an operator']])
    expect(budget.allows(['r3'])).toBe(false) // with r2 out, the configuration is one smaller
    budget.removalEnded('r2')
    expect(budget.allows(['r3'])).toBe(true)
  })

  it('counts a paused replica (its process stopped) as faulty while it is paused', () => {
    const { budget, state } = world(['r1'])
    state.paused.add('r2')
    expect([...budget.faulty()]).toEqual([['r1', 'down'], ['r2', 'paused']])
    expect(budget.allows(['r3'])).toBe(false)
    state.paused.delete('r2')
    expect(budget.allows(['r3'])).toBe(true)
  })

  it('counts a replica restarted without its state until it serves again, and one restarted from its disk not at all', () => {
    const { budget, state } = world([], ['r4', 'r5'])
    budget.restarted('r4', false)
    budget.restarted('r5', true)
    expect([...budget.faulty().keys()]).toEqual(['r4'])
    state.notServing.delete('r4')
    expect(budget.count()).toBe(0)
    // Serving once is enough: the replica is an ordinary member again.
    state.notServing.add('r4')
    expect(budget.count()).toBe(0)
  })

  it('counts a replica whose disk lost synced records until it serves again and its disk holds what it held', () => {
    const { budget, state } = world(['r2'])
    expect(budget.disksShort()).toBe(false)
    budget.tailLost('r2', 40) // killed with its disk at 40; the disk then lost its tail
    state.diskAt.set('r2', 33)
    expect([...budget.faulty()]).toEqual([['r2', 'down, its disk lost synced records (it held the order up to 40)']])
    expect(budget.disksShort()).toBe(true)
    // Started again from the shorter log: taking the state, then serving, its disk still short of 40.
    state.down.delete('r2')
    state.notServing.add('r2')
    expect([...budget.faulty().keys()]).toEqual(['r2'])
    state.notServing.delete('r2')
    expect([...budget.faulty().keys()]).toEqual(['r2'])
    expect(budget.allows(['r1', 'r3'])).toBe(false)
    // Its disk holds the order to 40 again (the transferred state's snapshot): an ordinary member.
    state.diskAt.set('r2', 41)
    expect(budget.count()).toBe(0)
    expect(budget.disksShort()).toBe(false)
    expect(budget.allows(['r1', 'r3'])).toBe(true)
  })

  it('picks victims within the budget, taking faulty replicas for free', () => {
    const { budget } = world(['r2'])
    expect(budget.pick(['r1', 'r3', 'r4'], 3)).toEqual(['r1'])
    expect(budget.pick(['r2', 'r3', 'r4'], 3)).toEqual(['r2', 'r3'])
    budget.slowStarted('r5')
    expect(budget.pick(['r1', 'r3'], 2)).toEqual([])
  })

  it('holds new faults back while a replica has not served yet, without counting it faulty', () => {
    // r4 and r5 start slow to connect: no replica can tell them from replicas that lost their state.
    const { budget, state } = world([], ['r4', 'r5'])
    expect(budget.count()).toBe(0)
    expect(budget.allows(['r1'])).toBe(false)
    expect(budget.pick(['r1', 'r4', 'r5'], 3)).toEqual(['r4', 'r5']) // already counted: they cost nothing within F
    state.notServing.delete('r5')
    expect(budget.pick(['r1', 'r2'], 2)).toEqual(['r1'])
    expect(budget.pick(['r4', 'r1'], 2)).toEqual(['r4', 'r1'])
    // Serving once is enough, as for a replica restarted without its state.
    state.notServing.delete('r4')
    expect(budget.count()).toBe(0)
    state.notServing.add('r4')
    expect(budget.pick(['r1', 'r2'], 2)).toEqual(['r1', 'r2'])
  })
})
