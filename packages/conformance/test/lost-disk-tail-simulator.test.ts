import { describe, expect, it } from 'vitest'
import { kv } from '@lockstep/machines'
import { SimCluster } from '@lockstep/testkit'
import { orderers } from './orderers'

// A disk that acknowledged syncs it did not keep (docs/storage.md, "Zeros ahead of the records"), in the simulator:
// r3's disk loses its last synced records across a crash (`CrashOptions.loseSynced`), with no trace, and r3 restarts
// from it believing its log whole. The replicas that had r3's reports of how far its disk held the order say so
// (`ReplicaEngine.diskLosses`, at error level in a real cluster); r3 rejoins by transfer and every acknowledged put
// reads back. The process-level twin is disk-damage.test.ts of the CLI (a WAL tail zeroed).
describe.each(orderers)('a disk that loses what it synced, in the simulator ($name)', (orderer) => {
  it('the other replicas say that r3\'s disk holds less than it reported; r3 rejoins and nothing acknowledged is lost (seed 4)', async () => {
    const c = new SimCluster({ machine: kv, orderer: orderer.make(), replicas: 3, seed: 4, durable: true })
    await c.start()
    const alice = await c.client('alice', ['r1'], 100)
    for (let i = 0; i < 12; i++) await c.until(alice.submit({ name: 'put', args: { key: `k${i}`, value: `v${i}` } }))
    expect(await c.runUntil(() => c.converged(), 5_000)).toBe(true)
    await c.runFor(200) // every disk synced and reported its last position
    expect(c.diskLosses()).toEqual([])
    await c.crash('r3', { loseSynced: 5 })
    await c.restartFromDisk('r3')
    expect(await c.runUntil(() => c.converged() && c.running().length === 3 && c.host('r1').engine.view.members.length === 3, 10_000)).toBe(true)
    // r3's disk held 12 (all three disks did) and now holds 7: both others had its report of 12.
    expect(c.diskLosses()).toEqual(["r1 saw r3's disk at 7 after 12", "r2 saw r3's disk at 7 after 12"])
    const bob = await c.client('bob', ['r3'], 100)
    for (let i = 0; i < 12; i++) expect(await c.until(bob.submit({ name: 'get', args: { key: `k${i}` } }))).toMatchObject({ ok: true, outputs: [{ value: { value: `v${i}` } }] })
    await c.stop()
  })
})
