import { describe, expect, it } from 'vitest'
import { kv } from '@lockstep/machines'
import { sequencer } from './sequencer'
import { SeededRandom } from '../src/sim/prng'
import { SimCluster } from '../src/sim/sim-cluster'
import { OverlappingFaultInjector } from '../src/sim/overlapping-fault-injector'
import { runPromiseContinuations } from '../src/sim/promise-continuations'

// A clock never runs backwards: set back at the end of a skew ahead, it holds still until it reads what its
// offset says, so it stays off, by less and less, for as long as it was ahead. The fault budget counted it
// healthy as soon as the skew ended, so the next faults could strike more than F replicas whose clocks were
// off (real-time seeds 317, 821, 1069 and 1073 of the skew world stalled with every replica out of service).
describe('the overlapping fault injector and clocks that catch up after a skew', () => {
  it('counts a replica as skewed until its clock reads what its offset says again', async () => {
    for (const seed of [1, 2, 3]) {
      const cluster = new SimCluster({ machine: kv, orderer: sequencer, replicas: 5, seed, membership: false })
      await cluster.start()
      const injector = new OverlappingFaultInjector(cluster, { kinds: ['skew'], delay: { minMs: 1, maxMs: 5 }, random: new SeededRandom(seed), striking: () => cluster.scheduler.now() < 20_000, skewBeyondMs: 500 })
      injector.start()
      let offChecked = 0
      let aheadAfterEnd = 0
      while (cluster.scheduler.now() < 25_000 && cluster.scheduler.step()) {
        await runPromiseContinuations()
        const faulty = injector.budget.faulty()
        for (const id of cluster.initialMembers) {
          const offMs = Math.abs(cluster.clock(id).skewMs())
          if (offMs <= 1) continue
          offChecked++
          if (cluster.clock(id).offsetMs === 0) aheadAfterEnd++
          expect(faulty.get(id) ?? 'counted healthy', `${id} reads ${offMs.toFixed(1)} ms off at ${cluster.scheduler.now()} ms (seed ${seed})`).toContain('clock skewed')
        }
        expect(injector.checkBudget()).toBeUndefined()
      }
      // The check saw clocks off, some of them after their skew had ended (catching up).
      expect(offChecked).toBeGreaterThan(100)
      expect(aheadAfterEnd).toBeGreaterThan(0)
      await injector.endAll()
      await cluster.stop()
    }
  }, 60_000)
})
