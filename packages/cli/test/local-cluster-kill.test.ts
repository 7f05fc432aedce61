import { existsSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { ErrorCodes } from '@lockstep/interface'
import { describe, expect, it } from 'vitest'
import type { ReplicaExit } from '../src/local-cluster'
import { useLocalCluster } from './local-cluster-fixture'

// LocalCluster.kill(id) and restart(id) on a cluster with file storage: a replica killed with SIGKILL is gone
// (reported as an unexpected exit, left out of status), the others go on; restarted, it recovers its disk and
// catches up.
const fixture = useLocalCluster('lockstep-kill-', { storage: 'file' })

/** Every replica's status once `count` of them answer at the same position of at least `atLeast`. */
async function settled(count: number, atLeast: number) {
  for (let attempt = 0; ; attempt++) {
    const statuses = await fixture.cluster.status()
    const positions = new Set(statuses.map((s) => s.position))
    if ((statuses.length === count && positions.size === 1 && statuses.every((s) => s.position >= atLeast && s.state === 'normal')) || attempt >= 1000) return statuses
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

describe('LocalCluster.kill and restart', () => {
  it('kills a replica with SIGKILL; restarted, it recovers from its data directory and catches up', async () => {
    const { cluster, dir } = fixture
    expect(cluster.config.storage).toEqual({ type: 'file', dir: 'data', sync: 'batch' })
    const exits: ReplicaExit[] = []
    cluster.onUnexpectedExit((exit) => exits.push(exit))
    const writer = await cluster.client('writer', { preferred: 'r1' })
    for (let i = 0; i < 5; i++) await writer.call({ name: 'put', args: { key: `k${i}`, value: String(i) } })
    expect(existsSync(join(dir, 'cluster', 'data', 'r3'))).toBe(true)

    const killedPid = cluster.replicas.find((r) => r.id === 'r3')!.pid
    const exit = await cluster.kill('r3')
    expect(exit).toEqual({ id: 'r3', pid: killedPid, code: null, signal: 'SIGKILL' })
    expect(exits).toEqual([exit])
    expect(cluster.running().map((r) => r.id)).toEqual(['r1', 'r2'])
    // A second kill of a replica that is down changes nothing.
    expect(await cluster.kill('r3')).toEqual(exit)

    // The two others go on without it.
    for (let i = 5; i < 10; i++) await writer.call({ name: 'put', args: { key: `k${i}`, value: String(i) } })
    const withoutR3 = await settled(2, 10)
    expect(withoutR3.map((s) => s.id)).toEqual(['r1', 'r2'])

    const restarted = await cluster.restart('r3')
    expect(restarted.pid).not.toBe(killedPid)
    const rejoined = await settled(3, 10)
    expect(rejoined.map((s) => s.id).sort()).toEqual(['r1', 'r2', 'r3'])
    expect(new Set(rejoined.map((s) => s.digest)).size, JSON.stringify(rejoined)).toBe(1)
    expect(rejoined.find((s) => s.id === 'r3')).toMatchObject({ state: 'normal', view: ['r1', 'r2', 'r3'] })
  }, 120_000)

  it('a replica restarted while another process holds its port a moment is started again once the port is free', async () => {
    const { cluster } = fixture
    const port = cluster.config.replicas.find((r) => r.id === 'r2')!.port
    const killedPid = cluster.replicas.find((r) => r.id === 'r2')!.pid
    await cluster.kill('r2')
    // Another process takes the port while r2 is down (one checking whether it is free, say), and lets it go 1.5 s later.
    // (The others dial it meanwhile: its connections are cut when it goes.)
    const squatter = createServer((socket) => socket.destroy())
    await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve))
    const released = new Promise<void>((resolve) => setTimeout(() => squatter.close(() => resolve()), 1500))
    const restarted = await cluster.restart('r2')
    await released
    expect(restarted.pid).not.toBe(killedPid)
    expect(restarted.port).toBe(port)
    const rejoined = await settled(3, 10)
    expect(rejoined.map((s) => s.id).sort()).toEqual(['r1', 'r2', 'r3'])
  }, 120_000)

  it('refuses to kill a replica the cluster does not have, with INVALID_ARGUMENT', async () => {
    await expect(fixture.cluster.kill('r9')).rejects.toMatchObject({ code: ErrorCodes.INVALID_ARGUMENT, message: expect.stringContaining("replica 'r9'") as unknown })
  })
})
