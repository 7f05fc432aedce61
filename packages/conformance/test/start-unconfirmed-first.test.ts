import { describe, expect, it } from 'vitest'
import { SimCluster } from '@lockstep/testkit'
import { kv } from '@lockstep/machines'
import { lamport } from '@lockstep/order-lamport'

// Found with real processes (chaos seed 3, 5 replicas, under CI load): r1, 20 ms late, heard the initial view first
// from r5, which had started without naming r1's run, and asked to join by a view change, though the replicas whose
// traffic came next had confirmed its run; two amnesias later only two replicas held a state and no view could form.
// Here r1's link to r5 never connects in time and r2, r3 and r4's links to r1 connect at 200 ms: r2–r5 start at
// 160 ms without r1, r5's heartbeat reaches r1 first, and the confirmations come 40 ms later. With the old rule (give
// up at the first such heartbeat) this test fails: r1 ends in view 2, added by a view change.
describe('a starting replica that hears the initial view first from a peer that started without it', () => {
  it('waits for a peer that confirmed its run and starts with it in view 1', async () => {
    const lines: string[] = []
    const cluster = new SimCluster({
      machine: kv,
      orderer: lamport({ heartbeatMs: 10 }),
      replicas: 5,
      seed: 1,
      delay: { minMs: 1, maxMs: 2 },
      connectsAt: (from, to) => (to === 'r1' && ['r2', 'r3', 'r4'].includes(from) ? 200 : from === 'r1' && to === 'r5' ? 5_000 : 0),
      trace: (line) => lines.push(line),
    })
    await cluster.start()
    await cluster.runFor(3_000)
    expect(lines.filter((line) => line.includes("replica 'r1' started without state and hears 'r5' serve"))).toEqual([])
    const r1 = cluster.host('r1').engine
    expect(`${r1.status} view ${r1.view.id}`).toBe('normal view 1')
    await cluster.stop()
  })
})
