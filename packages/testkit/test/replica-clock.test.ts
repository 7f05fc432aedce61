import { describe, expect, it } from 'vitest'
import { kv } from '@lockstep/machines'
import { ReplicaClock } from '../src/sim/replica-clock'
import { SimCluster } from '../src/sim/sim-cluster'
import { sequencer } from './sequencer'
import { VirtualScheduler } from '../src/sim/virtual-scheduler'

describe('ReplicaClock', () => {
  it('reads the virtual time through its drift and offset, and never decreases: set back, it holds still until it catches up', () => {
    const scheduler = new VirtualScheduler()
    const clock = new ReplicaClock(scheduler, 5, 1000)
    scheduler.setTimer(100, () => {})
    scheduler.step()
    expect(clock.now()).toBeCloseTo(100 * 1.001 + 5, 9)
    clock.setOffset(-50)
    expect(clock.now()).toBeCloseTo(105.1, 9) // held
    scheduler.setTimer(50, () => {})
    scheduler.step()
    expect(clock.now()).toBeCloseTo(105.1, 9) // 150.15 - 50 = 100.15: still held
    expect(clock.heldMs()).toBeCloseTo(105.1 - 100.15, 9)
    scheduler.setTimer(10, () => {})
    scheduler.step()
    expect(clock.now()).toBeCloseTo(160 * 1.001 - 50, 9)
    expect(clock.heldMs()).toBe(0)
    clock.setOffset(1000)
    expect(clock.now()).toBeCloseTo(160 * 1.001 + 1000, 9)
  })

  it('without offset and drift it reads exactly the virtual time', () => {
    const scheduler = new VirtualScheduler()
    const clock = new ReplicaClock(scheduler)
    scheduler.setTimer(0.1 + 0.2, () => {})
    scheduler.step()
    expect(clock.now()).toBe(scheduler.now())
  })

  it('refuses bad clock options, naming them', () => {
    expect(() => new SimCluster({ machine: kv, orderer: sequencer, clocks: { maxOffsetMs: -1 } })).toThrow('clocks.maxOffsetMs must be a number >= 0 (got -1)')
  })
})
