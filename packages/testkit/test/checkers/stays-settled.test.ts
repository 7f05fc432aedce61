import { describe, expect, it } from 'vitest'
import { checkStaysSettled, SETTLE_GRACE_MS, STAYS_SETTLED_MS, type SettledCluster } from '../../src/sim/checkers/stays-settled'

/** A cluster on a clock that installs a view at each of `viewsAt` (virtual ms from the start of the check). */
function fakeCluster(viewsAt: readonly number[], heldUntil = 0): { cluster: SettledCluster; installations: () => number } {
  let now = 0
  const cluster: SettledCluster = {
    clocksHeldMs: () => Math.max(0, heldUntil - now),
    runFor: async (ms) => {
      now += ms
    },
    scheduler: { now: () => now },
    describe: () => 'r1 normal in view 9 {r1,r2,r3} at 200',
  }
  return { cluster, installations: () => viewsAt.filter((at) => at <= now).length }
}

describe('a settled cluster stops changing views', () => {
  it('passes a cluster that installs no view', async () => {
    const { cluster, installations } = fakeCluster([])
    expect(await checkStaysSettled(cluster, installations)).toEqual([])
  })

  it('lets a view change under way finish within the grace period', async () => {
    const { cluster, installations } = fakeCluster([10, 400, SETTLE_GRACE_MS])
    expect(await checkStaysSettled(cluster, installations)).toEqual([])
  })

  it('flags a cluster that installs views after the grace period, saying how many and what the replicas do', async () => {
    // A view change every 5 ms, for ever: what a join that never clears caused (world seed 21).
    const every5 = Array.from({ length: (SETTLE_GRACE_MS + STAYS_SETTLED_MS) / 5 }, (_, i) => (i + 1) * 5)
    const { cluster, installations } = fakeCluster(every5)
    const [violation, ...rest] = await checkStaysSettled(cluster, installations)
    expect(rest).toEqual([])
    expect(violation).toBe(
      `liveness: with every fault over and every replica serving at one position, the cluster went on changing views: ${STAYS_SETTLED_MS / 5} view installations between ${SETTLE_GRACE_MS}ms and ${SETTLE_GRACE_MS + STAYS_SETTLED_MS}ms (views change with nothing to change); r1 normal in view 9 {r1,r2,r3} at 200`,
    )
  })

  it('flags a single view installed late', async () => {
    const { cluster, installations } = fakeCluster([SETTLE_GRACE_MS + STAYS_SETTLED_MS])
    expect(await checkStaysSettled(cluster, installations)).toHaveLength(1)
  })

  it('waits for a clock set back to run again before the grace period starts', async () => {
    // A replica whose clock holds still sends no heartbeat: the others remove it and add it back until it runs.
    const heldUntil = 1_500
    const churn = Array.from({ length: 8 }, (_, i) => (i + 1) * 180)
    const late = heldUntil + SETTLE_GRACE_MS + 1
    const settles = fakeCluster(churn, heldUntil)
    expect(await checkStaysSettled(settles.cluster, settles.installations)).toEqual([])
    const goesOn = fakeCluster([...churn, late], heldUntil)
    expect(await checkStaysSettled(goesOn.cluster, goesOn.installations)).toHaveLength(1)
  })
})
