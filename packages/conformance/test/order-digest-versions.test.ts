import { describe, expect, it } from 'vitest'
import { ORDER_DIGEST_VERSION, type OrderDigestVersion } from '@lockstep/core'
import { kv } from '@lockstep/machines'
import { SimCluster } from '@lockstep/testkit'
import { orderers } from './orderers'

/**
 * Replicas compare order digests (durable replies, catching up by the order's suffix, state transfer), so every
 * replica of a cluster must extend its chain the same way. A cluster made before order digest version 2 holds
 * version 1 histories on its disks; after an upgrade its replicas start new histories with version 2, yet each
 * must continue the version of the history it holds (its snapshot, its log from position 0, the order or state a
 * peer sends it), or the replicas' digests part and replies wait forever for a majority with the same order.
 */
describe.each(orderers)('order digest versions across an upgrade ($name)', (orderer) => {
  for (const snapshotEvery of [10_000, 7]) {
    const disks = snapshotEvery === 7 ? 'snapshots every 7 deliveries and logs after them' : 'logs from position 0, no snapshot'
    it(`a cluster made with version 1 keeps it after restarting under version 2 defaults (${disks}), and a replica with an empty disk joins it`, async () => {
      let newHistories: OrderDigestVersion = 1 // the version before the upgrade made every history with
      const lines: string[] = []
      const c = new SimCluster({
        machine: kv,
        orderer: orderer.make(),
        replicas: 3,
        durable: true,
        seed: 31,
        trace: (line) => lines.push(line),
        engine: {
          snapshotEvery,
          // With snapshots, a window of requests kept shorter than the history (snapshots keep that window too), so
          // the replica with an empty disk takes the whole state.
          ...(snapshotEvery === 7 ? { transfer: { suffixWindow: 5 } } : {}),
          get orderDigestVersion() {
            return newHistories
          },
        },
      })
      await c.start()
      const alice = await c.client('alice', ['r1', 'r2', 'r3'], 100)
      for (let i = 0; i < 20; i++) await c.until(alice.submit({ name: 'put', args: { key: `k${i}`, value: String(i) } }))
      expect(c.running().map((h) => h.engine.orderDigestVersion)).toEqual([1, 1, 1])

      // The upgrade: every replica stopped and started again from its disk by a version that starts histories with 2.
      newHistories = ORDER_DIGEST_VERSION
      expect(newHistories).toBe(2)
      for (const id of c.replicaIds) await c.crash(id)
      for (const id of c.replicaIds) await c.restartFromDisk(id)
      expect(await c.runUntil(() => c.converged(), 10_000)).toBe(true)
      expect(c.replicaIds.map((id) => c.startedFromDisk(id))).toEqual([true, true, true])
      expect(c.running().map((h) => h.engine.orderDigestVersion)).toEqual([1, 1, 1])
      for (let i = 20; i < 30; i++) await c.until(alice.submit({ name: 'put', args: { key: `k${i}`, value: String(i) } }))

      // A replica replaced by one with an empty disk takes the cluster's history, and its version, from its peers.
      await c.crash('r3')
      await c.restartWithAmnesia('r3')
      expect(await c.runUntil(() => c.converged() && c.isServing('r3'), 20_000)).toBe(true)
      expect(c.host('r3').engine.orderDigestVersion).toBe(1)
      // Without snapshots its peers keep the whole order from position 0 and send that (with its version); with
      // them and a window shorter than the history, the state. Either way it never takes an order whose digests part from its sources'.
      const joined = lines.filter((line) => line.includes("replica 'r3' took"))
      expect(joined.at(-1)).toContain(snapshotEvery === 7 ? 'took the state of view' : "took the order's last")
      expect(lines.filter((line) => line.includes('does not match its digest'))).toEqual([])
      for (let i = 30; i < 40; i++) await c.until(alice.submit({ name: 'put', args: { key: `k${i}`, value: String(i) } }))
      expect(await c.runUntil(() => c.converged(), 10_000)).toBe(true)

      const hosts = c.running()
      expect(new Set(hosts.map((h) => `${h.engine.position}:${h.engine.orderDigest}:${h.engine.stateDigest()}`)).size).toBe(1)
      const state = c.host('r3').engine.stateJSON() as Record<string, string>
      for (let i = 0; i < 40; i++) expect(state[`k${i}`]).toBe(String(i))
      await c.stop()
    })
  }

  it.each([10_000, 5])('a cluster made now starts with version 2 and keeps it through restarts from its disks (snapshotEvery %i)', async (snapshotEvery) => {
    const c = new SimCluster({ machine: kv, orderer: orderer.make(), replicas: 3, durable: true, seed: 32, engine: { snapshotEvery } })
    await c.start()
    const alice = await c.client('alice', ['r1', 'r2', 'r3'], 100)
    for (let i = 0; i < 12; i++) await c.until(alice.submit({ name: 'put', args: { key: `k${i}`, value: String(i) } }))
    expect(c.running().map((h) => h.engine.orderDigestVersion)).toEqual([2, 2, 2])
    for (const id of c.replicaIds) await c.crash(id)
    for (const id of c.replicaIds) await c.restartFromDisk(id)
    expect(await c.runUntil(() => c.converged(), 10_000)).toBe(true)
    expect(c.running().map((h) => h.engine.orderDigestVersion)).toEqual([2, 2, 2])
    await c.crash('r2')
    await c.restartWithAmnesia('r2')
    expect(await c.runUntil(() => c.converged() && c.isServing('r2'), 20_000)).toBe(true)
    expect(c.host('r2').engine.orderDigestVersion).toBe(2)
    expect(await c.until(alice.call({ name: 'get', args: { key: 'k11' } }))).toEqual([{ value: '11' }])
    await c.stop()
  })
})
