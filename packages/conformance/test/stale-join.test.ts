import { describe, expect, it } from 'vitest'
import { SimCluster } from '@lockstep/testkit'
import { kv } from '@lockstep/machines'
import { lamport } from '@lockstep/order-lamport'

// Found with real processes (cli world-faults "Found 4", cluster-supervise "--restart"), 1 run in 10, before the
// simulator could see it: r2, restarted without its state (memory storage) about a second after the cluster
// started, first heard the fresh join r3 had sent when the cluster first started. r3's link to r2 had never
// connected, and the TCP transport sends a restarted peer what it holds unacknowledged. The new r2 counted it,
// logged "starts a new cluster in view 1 with r2, r3", and answered a read of an acknowledged write with "".
// The world model now has both halves: links slow to connect (`connectsAt`) and links that hold messages for a
// crashed replica's next run (`heldForRestart`). With the old counting of fresh joins (any fresh join counts, no
// start grace) this test fails with exactly that log line.
describe('a restarted replica and a fresh join held for it on a link since the cluster started', () => {
  for (const restartAt of [1_400, 1_485]) {
    // Since 2026-12-07 (the view rules for cut links) this no longer fails when a fresh peer counts toward starting
    // on any join; that fix stays caught by core's cluster-start.test.ts (tooling/mutants.json).
    it(`does not start a new cluster beside the running one; it joins it and reads the acknowledged write (restarted at ${restartAt} ms, r3's link to it connects at 1500 ms)`, async () => {
      const lines: string[] = []
      const cluster = new SimCluster({
        machine: kv,
        orderer: lamport({ heartbeatMs: 10 }),
        replicas: 3,
        seed: 1,
        delay: { minMs: 1, maxMs: 2 },
        heldForRestart: true,
        connectsAt: (from, to) => (from === 'r3' && to === 'r2' ? 1_500 : 0),
        trace: (line) => lines.push(line),
      })
      await cluster.start()
      const writer = await cluster.client('writer', ['r1', 'r2', 'r3'])
      // Acknowledged within 5 s of virtual time (`until` throws if it fails or takes longer).
      expect((await cluster.until(writer.submit({ name: 'put', args: { key: 'x', value: '1' } }), 5_000)).ok).toBe(true)
      await cluster.runFor(restartAt - cluster.scheduler.now())
      cluster.crashNow('r2')
      await cluster.restartWithAmnesia('r2')
      const restartedAt = cluster.scheduler.now()
      await cluster.runFor(3_000)
      const startedAfterRestart = lines.filter((line) => line.includes("replica 'r2' starts a new cluster") && Number(line.trim().split(' ')[0]) >= restartedAt)
      expect(startedAfterRestart).toEqual([])
      const engines = ['r1', 'r2', 'r3'].map((id) => cluster.host(id).engine)
      expect(engines.map((e) => e.status)).toEqual(['normal', 'normal', 'normal'])
      expect(new Set(engines.map((e) => e.view.id)).size).toBe(1)
      const reader = await cluster.client('reader', ['r2'])
      expect(await cluster.until(reader.submit({ name: 'get', args: { key: 'x' } }), 5_000)).toMatchObject({ ok: true, outputs: [{ value: { value: '1' } }] })
      await cluster.stop()
    })
  }
})
