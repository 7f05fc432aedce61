import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { builtInMachineNames, type BuiltInMachineName } from '@lockstep/machines'
import {
  checkLinearizability,
  checkMutualExclusion,
  kvModel,
  registerModel,
  type Operation,
} from '@lockstep/testkit'
import { upLocalCluster, type LocalCluster } from '../src/local-cluster'
import { isRunning, killEverything, requireBuiltCli, runCli, startCli, stopClusters, waitFor } from './processes'
import { runClusterWorkload } from './workload-runner'

// Three replica processes per machine on 127.0.0.1, Lamport ordering, real TCP;
// clients in this process; histories timed with performance.now and checked.
const CLIENTS = 5
const OPS_PER_CLIENT = 50

let dir: string
const clusters = new Map<BuiltInMachineName, LocalCluster>()
const replicaLog: string[] = []

beforeAll(async () => {
  requireBuiltCli()
  dir = await mkdtemp(join(tmpdir(), 'lockstep-multiprocess-'))
  const results = await Promise.allSettled(
    builtInMachineNames.map((machine) =>
      upLocalCluster({ dir: join(dir, machine), machine, basePort: 0, logLevel: 'warn', onLog: (line) => replicaLog.push(`[${machine}] ${line}`) }),
    ),
  )
  results.forEach((result, i) => {
    if (result.status === 'fulfilled') clusters.set(builtInMachineNames[i]!, result.value)
  })
  const failed = results.find((r) => r.status === 'rejected')
  if (failed) throw (failed as PromiseRejectedResult).reason
}, 120_000)

afterAll(async () => {
  try {
    await stopClusters(...clusters.values())
  } finally {
    for (const cluster of clusters.values()) for (const replica of cluster.replicas) if (isRunning(replica.pid)) replica.process.kill('SIGKILL')
    killEverything()
    await rm(dir, { recursive: true, force: true })
    if (replicaLog.some((line) => / (error|warn) /.test(line))) console.log(`replica warnings and errors:\n${replicaLog.filter((l) => / (error|warn) /.test(l)).slice(0, 40).join('\n')}`)
  }
}, 60_000)

/** Runs the testkit's workload for `machine` on its cluster (see `runClusterWorkload`). */
function runWorkload(machine: BuiltInMachineName, seed: number, during?: (history: Operation[]) => Promise<void>) {
  return runClusterWorkload(clusters.get(machine)!, machine, seed, { clients: CLIENTS, opsPerClient: OPS_PER_CLIENT }, during)
}

describe('three replica processes over TCP (Lamport ordering)', () => {
  it('mutex: 5 clients contend; no two ever hold the lock at once', async () => {
    const { events } = await runWorkload('mutex', 1)
    const grants = events.filter((e) => e.kind === 'grant')
    expect(grants).toHaveLength((CLIENTS * OPS_PER_CLIENT) / 2)
    expect(new Set(grants.map((g) => g.client)).size).toBe(CLIENTS)
    expect(checkMutualExclusion(events)).toEqual([])
  })

  it('register: 5 clients × 50 reads, writes and compare-and-sets form a linearizable history', async () => {
    const { history } = await runWorkload('register', 2)
    expect(history).toHaveLength(CLIENTS * OPS_PER_CLIENT)
    const result = checkLinearizability(history, registerModel)
    expect(result.violation?.message).toBeUndefined()
    expect(result.verdict).toBe('linearizable')
  })

  it('status(): every replica reports its position, state digest and view over IPC; idle replicas agree', async () => {
    const cluster = clusters.get('register')!
    let statuses = await cluster.status()
    while (!statuses.every((s) => s.position === statuses[0]!.position)) {
      await new Promise((resolve) => setTimeout(resolve, 10))
      statuses = await cluster.status()
    }
    expect(statuses.map((s) => s.id)).toEqual(['r1', 'r2', 'r3'])
    expect(statuses.map((s) => [s.view, s.state])).toEqual(Array(3).fill([['r1', 'r2', 'r3'], 'normal']))
    expect(statuses[0]!.position).toBeGreaterThanOrEqual(CLIENTS * OPS_PER_CLIENT)
    expect(new Set(statuses.map((s) => s.digest)).size).toBe(1)
  })

  it('kv: 5 clients × 50 gets, puts and appends stay linearizable, also across kill -9 of a replica', async () => {
    const cluster = clusters.get('kv')!
    const victim = cluster.replicas[2]!
    const { history } = await runWorkload('kv', 3, async (soFar) => {
      // Crash r3 once a fifth of the operations completed; the survivors agree it failed and go on.
      await waitFor('a fifth of the kv operations', () => soFar.length >= (CLIENTS * OPS_PER_CLIENT) / 5, 60_000)
      victim.process.kill('SIGKILL')
    })
    expect(victim.process.signalCode).toBe('SIGKILL')
    expect(history).toHaveLength(CLIENTS * OPS_PER_CLIENT)
    expect(history.every((op) => op.output !== null && op.return !== null)).toBe(true)
    const result = checkLinearizability(history, kvModel)
    expect(result.violation?.message).toBeUndefined()
    expect(result.verdict).toBe('linearizable')
  })

  it('register: 6 clients sharing one connection per replica stay linearizable across kill -9 and restart of a replica', async () => {
    // A cluster of its own: the history is checked from the register's first value.
    const cluster = await upLocalCluster({ dir: join(dir, 'register-shared'), machine: 'register', basePort: 0, logLevel: 'warn', onLog: (line) => replicaLog.push(`[register-shared] ${line}`) })
    clusters.set('register-shared' as BuiltInMachineName, cluster)
    const victim = cluster.replicas[0]!.id
    const { history } = await runClusterWorkload(cluster, 'register', 11, { clients: 6, opsPerClient: 40, shareConnections: true }, async (soFar) => {
      // The clients that prefer r1 lose their shared connection to it: they go on through the others, and back.
      await waitFor('a quarter of the register operations', () => soFar.length >= 60, 60_000)
      await cluster.kill(victim)
      await waitFor('half of the register operations', () => soFar.length >= 120, 60_000)
      await cluster.restart(victim)
    })
    expect(history).toHaveLength(6 * 40)
    expect(history.every((op) => op.output !== null && op.return !== null)).toBe(true)
    const result = checkLinearizability(history, registerModel)
    expect(result.violation?.message).toBeUndefined()
    expect(result.verdict).toBe('linearizable')
  })

  it('lockstep client acquires (at once, or queued until the holder releases) and releases', async () => {
    const configFile = clusters.get('mutex')!.configFile
    const first = await runCli(['client', '--cluster', configFile, '--id', 'alice', 'acquire'])
    expect(first).toMatchObject({ code: 0, stderr: '' })
    expect(JSON.parse(first.stdout)).toMatchObject({ ok: true, outputs: ['OK'], client: 'alice', seq: 1 })

    const queued = startCli(['client', '--cluster', configFile, '--id', 'bob', 'acquire'])
    await waitFor('bob to be queued', () => queued.stderr().includes('queued for the lock'))
    expect(queued.stdout()).toBe('')

    const release = await runCli(['client', '--cluster', configFile, '--id', 'carol', 'release'])
    expect(release).toMatchObject({ code: 0, stderr: '' })
    expect(JSON.parse(release.stdout)).toMatchObject({ ok: true, outputs: [], client: 'carol' })

    expect((await queued.exited).code).toBe(0)
    const granted = JSON.parse(queued.stdout())
    expect(granted).toMatchObject({ ok: true, outputs: ['OK'], client: 'bob', granted: { by: { client: 'carol', seq: 1 } } })
    expect(granted.granted.position).toBeGreaterThan(granted.position)

    expect(await runCli(['client', '--cluster', configFile, 'release'])).toMatchObject({ code: 0, stderr: '' })
  })
})
