import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { checkLinearizability, checkMutualExclusion, kvModel } from '@lockstep/testkit'
import { upLocalCluster, type LocalCluster } from '../src/local-cluster'
import { requireBuiltCli, stopEverything, trackPid, waitFor } from './processes'
import { runClusterWorkload } from './workload-runner'

// Issue 12: the real-time orderer with real `lockstep replica` processes over TCP, chosen by `order: realtime`
// in the cluster configuration (what `lockstep cluster up --order realtime` writes).

const CLIENTS = 5
const OPS_PER_CLIENT = 50
let dir: string
const clusters = new Map<string, LocalCluster>()
const replicaLog: string[] = []

beforeAll(async () => {
  requireBuiltCli()
  dir = await mkdtemp(join(tmpdir(), 'lockstep-realtime-'))
  for (const machine of ['kv', 'mutex'] as const) {
    const cluster = await upLocalCluster({ dir: join(dir, machine), machine, order: 'realtime', basePort: 0, logLevel: 'warn', onLog: (line) => replicaLog.push(`[${machine}] ${line}`) })
    for (const replica of cluster.replicas) trackPid(replica.pid)
    clusters.set(machine, cluster)
  }
}, 120_000)

afterAll(async () => {
  await stopEverything([...clusters.values()], dir)
}, 60_000)

describe('three replica processes over TCP (real-time ordering)', () => {
  it('kv: 5 clients × 50 gets, puts and appends stay linearizable, also across kill -9 of a replica; the survivors agree', async () => {
    const cluster = clusters.get('kv')!
    const victim = cluster.replicas[1]!
    const { history } = await runClusterWorkload(cluster, 'kv', 5, { clients: CLIENTS, opsPerClient: OPS_PER_CLIENT }, async (soFar) => {
      await waitFor('a fifth of the kv operations', () => soFar.length >= (CLIENTS * OPS_PER_CLIENT) / 5, 60_000)
      victim.process.kill('SIGKILL')
    })
    expect(victim.process.signalCode).toBe('SIGKILL')
    expect(history).toHaveLength(CLIENTS * OPS_PER_CLIENT)
    const result = checkLinearizability(history, kvModel)
    expect(result.violation?.message).toBeUndefined()
    expect(result.verdict).toBe('linearizable')
    const survivors = (await cluster.status()).filter((s) => s.id !== victim.id)
    expect(survivors.map((s) => s.state)).toEqual(['normal', 'normal'])
    expect(new Set(survivors.map((s) => `${s.position}:${s.digest}`)).size).toBe(1)
    expect(replicaLog.filter((l) => l.includes('ORDER_DIVERGED') || l.includes('can no longer guarantee the order'))).toEqual([])
  })

  it('mutex: 5 clients contend; no two ever hold the lock at once', async () => {
    const { events } = await runClusterWorkload(clusters.get('mutex')!, 'mutex', 6, { clients: CLIENTS, opsPerClient: OPS_PER_CLIENT })
    expect(events.filter((e) => e.kind === 'grant')).toHaveLength((CLIENTS * OPS_PER_CLIENT) / 2)
    expect(checkMutualExclusion(events)).toEqual([])
  })
})
