import { existsSync } from 'node:fs'
import { dirname } from 'node:path'
import { describeUncleanStop, upLocalCluster, type LocalCluster } from '@lockstep/cli'
import { afterAll, describe, expect, it } from 'vitest'
import { LockClient } from '../src/index'

// The replicas are `lockstep replica` processes of the built CLI: `turbo run test` builds it first.
let cluster: LocalCluster | undefined

afterAll(async () => {
  if (!cluster) return
  await cluster.stop()
  for (const replica of cluster.replicas) {
    try {
      process.kill(replica.pid, 'SIGKILL') // only if stop() could not end it
    } catch {
      // gone, as it should be
    }
  }
}, 30_000)

/** Waits (polling, no deadline asserted) until `condition` holds. */
async function until(condition: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await condition())) await new Promise((resolve) => setTimeout(resolve, 10))
}

function running(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe('the lock service on three replica processes over TCP', () => {
  it('grants the lock to one client at a time, keeps the replicas in agreement, and stops every process', async () => {
    const logs: string[] = []
    cluster = await upLocalCluster({ machine: 'mutex', replicas: 3, basePort: 0, onLog: (line) => logs.push(line) })
    expect(cluster.replicas.map((r) => r.id)).toEqual(['r1', 'r2', 'r3'])
    expect(new Set(cluster.replicas.map((r) => r.port)).size).toBe(3)
    for (const replica of cluster.replicas) expect(running(replica.pid)).toBe(true)

    const alice = new LockClient(await cluster.client('alice', { preferred: 'r1' }))
    const bob = new LockClient(await cluster.client('bob', { preferred: 'r2' }))
    await alice.acquire()
    let bobHasIt = false
    const bobWaits = bob.acquire().then(() => (bobHasIt = true))
    // Bob is queued once every replica has ordered his acquire (positions reach 2) while Alice still holds the lock.
    await until(async () => (await cluster!.status()).every((s) => s.position === 2))
    expect(bobHasIt).toBe(false)
    await alice.release()
    await bobWaits
    await bob.release()

    await until(async () => (await cluster!.status()).every((s) => s.position === 4))
    const statuses = await cluster.status()
    expect(new Set(statuses.map((s) => s.digest)).size).toBe(1)
    expect(statuses.map((s) => s.view)).toEqual(Array(3).fill(['r1', 'r2', 'r3']))

    const stopped = await cluster.stop()
    expect(stopped.map((replica) => replica.id).sort()).toEqual(['r1', 'r2', 'r3'])
    expect(stopped.map(describeUncleanStop).filter((problem) => problem !== undefined)).toEqual([]) // each exited 0 after SIGTERM
    for (const replica of cluster.replicas) expect(running(replica.pid)).toBe(false)
    expect(existsSync(dirname(cluster.configFile))).toBe(false) // its temporary directory, secrets included
    expect(logs.filter((line) => line.includes('"level":"error"'))).toEqual([]) // replicas log JSON lines
  })
})
