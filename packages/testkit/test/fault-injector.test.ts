import { describe, expect, it, vi } from 'vitest'
import { kv } from '@lockstep/machines'
import { FaultInjector } from '../src/sim/fault-injector'
import type { FaultEvent } from '../src/sim/faults'
import { SimCluster } from '../src/index'
import { sequencer } from './sequencer'

const fault = (atMs: number, kind: FaultEvent['kind'], replicas: string[], durationMs: number, extraMs = 0): FaultEvent => ({ atMs, kind, replicas, durationMs, extraMs })

/** A fault-free 3-replica cluster (no failure detection: nothing but the injector changes it), with every network change it sees, stamped. */
async function cluster() {
  const c = new SimCluster({ machine: kv, orderer: sequencer, replicas: 3, membership: false, delay: { minMs: 1, maxMs: 1 } })
  const changes: string[] = []
  const network = c.network as unknown as Record<string, (...args: unknown[]) => void>
  for (const method of ['partition', 'heal', 'setSlow', 'setDelay']) {
    const original = network[method]!.bind(c.network)
    network[method] = (...args: unknown[]) => {
      changes.push(`${c.scheduler.now()} ${method} ${JSON.stringify(args)}`)
      original(...args)
    }
  }
  await c.start()
  return { c, changes }
}

describe('the fault injector', () => {
  it('strikes each fault at its time and undoes it after its duration', async () => {
    const { c, changes } = await cluster()
    const injector = new FaultInjector(c, { kinds: ['partition', 'slow', 'delay'], windowMs: 3_000, delay: { minMs: 1, maxMs: 1 } })
    injector.schedule([fault(10, 'partition', ['r3'], 100), fault(300, 'slow', ['r1'], 100, 40), fault(500, 'delay', [], 50, 30)])
    await c.runFor(1_000)
    expect(changes).toEqual([
      '10 partition [["r3"],["r1","r2"]]',
      '110 heal []',
      '300 setSlow ["r1",40]',
      '400 setSlow ["r1",0]',
      '500 setDelay [{"minMs":1,"maxMs":31}]',
      '550 setDelay [{"minMs":1,"maxMs":1}]',
    ])
    expect(injector.injected.map((f) => `${f.atMs} ${f.kind}`)).toEqual(['10 partition', '300 slow', '500 delay'])
    await c.stop()
  })

  it('holds a fault back until the cluster recovered from the last one, and drops it when the window closes', async () => {
    const { c, changes } = await cluster()
    const injector = new FaultInjector(c, { kinds: ['crash', 'partition'], windowMs: 1_000, delay: { minMs: 1, maxMs: 1 } })
    // Without failure detection the view never drops r2, so the cluster never counts as recovered again.
    injector.schedule([fault(10, 'crash', ['r2'], 100), fault(50, 'partition', ['r3'], 100)])
    await c.runFor(2_000)
    expect(c.isRunning('r2')).toBe(false)
    expect(injector.injected.map((f) => `${f.atMs} ${f.kind} ${f.replicas.join()}`)).toEqual(['10 crash r2'])
    expect(changes).toEqual([])
    await c.stop()
  })

  it('brings crashed replicas back as new incarnations when the run has restarts, and ends every fault at the end', async () => {
    const { c } = await cluster()
    const injector = new FaultInjector(c, { kinds: ['crash', 'restart'], windowMs: 3_000, delay: { minMs: 1, maxMs: 1 } })
    const crashed = vi.spyOn(c, 'crashNow')
    const rejoined = vi.spyOn(c, 'rejoin').mockImplementation(async () => {}) // the restart itself is SimCluster's business
    injector.schedule([fault(10, 'crash', ['r1'], 100)])
    await c.runFor(50)
    expect(crashed).toHaveBeenCalledWith('r1')
    expect(c.isRunning('r1')).toBe(false)
    expect(rejoined).not.toHaveBeenCalled()
    await c.runFor(100)
    expect(rejoined).toHaveBeenCalledTimes(1)
    expect(rejoined).toHaveBeenCalledWith('r1')
    await injector.endAll() // r1 is still down (the mock did not start it): the end of the run brings it back too
    expect(rejoined).toHaveBeenCalledTimes(2)
    await c.stop()
  })

  it('measures failover from a crash or partition to the first view installed without its victims', async () => {
    const { c } = await cluster()
    const injector = new FaultInjector(c, { kinds: ['crash', 'partition'], windowMs: 3_000, delay: { minMs: 1, maxMs: 1 } })
    injector.schedule([fault(100, 'partition', ['r2'], 50)])
    await c.runFor(200)
    expect(injector.failoverMs([
      { atMs: 50, members: ['r1', 'r3'] }, // before the fault
      { atMs: 150, members: ['r1', 'r2', 'r3'] }, // still with r2
      { atMs: 260, members: ['r1', 'r3'] },
      { atMs: 300, members: ['r1', 'r3'] },
    ])).toEqual([160])
    expect(injector.failoverMs([{ atMs: 150, members: ['r1', 'r2', 'r3'] }])).toEqual([]) // no failover seen
    await c.stop()
  })
})
