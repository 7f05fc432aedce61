import { describe, expect, it } from 'vitest'
// The README's quickstart runs as written in packages/conformance/test/docs-examples.test.ts.
import { LockClient, startInProcessCluster } from '../src/index'
import { mutex } from '@lockstep/machines'

/** Waits (without a deadline of its own) until every replica executed the same requests. */
async function settled(hosts: readonly { engine: { position: number; pending: number } }[], expected: number) {
  while (!hosts.every((h) => h.engine.position === expected && h.engine.pending === 0)) {
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
}

describe('the lock service', () => {
  it('grants the lock to one client at a time; acquire resolves exactly when granted', async () => {
    const cluster = await startInProcessCluster({ machine: mutex, replicas: 3 })
    const alice = new LockClient(await cluster.client('alice', { preferred: 'r1' }))
    const bob = new LockClient(await cluster.client('bob', { preferred: 'r2' }))
    await alice.acquire()
    let bobHasIt = false
    const bobWaits = bob.acquire().then(() => (bobHasIt = true))
    await new Promise((resolve) => setTimeout(resolve, 30))
    expect(bobHasIt).toBe(false) // queued behind alice
    await alice.release()
    await bobWaits
    expect(bobHasIt).toBe(true)
    await bob.release()
    await settled(cluster.hosts, 4)
    expect(cluster.hosts.map((h) => h.engine.stateJSON())).toEqual(Array(3).fill({ user: null, waiting: [] }))
    await cluster.stop()
  })
})
