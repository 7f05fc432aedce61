import { cp, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { LockstepClient } from '@lockstep/client'
import { startLocalCluster, writeLocalClusterConfig, type LocalCluster } from '../src/local-cluster'
import type { LoadedClusterConfig } from '../src/cluster-config'
import type { ReplicaStatus } from '../src/replica-ipc'
import { requireBuiltCli, stopEverything, trackPid } from './processes'

// The procedure of docs/operations.md, "Backup and restore", on three replica processes with file storage:
// a consistent copy (stop, copy, start), restoring one replica from an old copy, and what restoring a majority
// from older copies does while the third replica keeps its newer disk (the cluster resumes from the copies; the
// third replica drops its newer positions and says so).

let dir: string
let cluster: LocalCluster | undefined
/** Every replica's log lines (info and above) of this file's clusters. */
const logs: string[] = []
beforeAll(async () => {
  requireBuiltCli()
  dir = await mkdtemp(join(tmpdir(), 'lockstep-backup-'))
})
afterAll(async () => {
  await stopEverything([cluster], dir)
}, 60_000)

async function start(config: LoadedClusterConfig): Promise<LocalCluster> {
  const started = await startLocalCluster(config, { logLevel: 'info', onLog: (line) => logs.push(line) })
  for (const replica of started.replicas) trackPid(replica.pid)
  return started
}

/** Sends `signal` to replica `id`'s process and waits until it exited. */
async function stopReplica(running: LocalCluster, id: string, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  const replica = running.replicas.find((r) => r.id === id)!
  if (replica.process.exitCode !== null || replica.process.signalCode !== null) return
  const exited = new Promise<void>((resolve) => replica.process.once('exit', () => resolve()))
  process.kill(replica.pid, signal)
  await exited
}

/** Stops every replica with SIGTERM and waits until all exited. */
async function stopAll(running: LocalCluster): Promise<void> {
  await Promise.all(running.replicas.map((r) => stopReplica(running, r.id)))
}

/** Copies a replica's data directory, without `LOCK` (the process holding it; not part of a backup). */
async function copyDataDir(from: string, to: string): Promise<void> {
  await rm(to, { recursive: true, force: true })
  await cp(from, to, { recursive: true, filter: (source) => basename(source) !== 'LOCK' })
}

/** Every running replica's status once `count` of them serve at one position of at least `atLeast`. */
async function settled(running: LocalCluster, count: number, atLeast: number): Promise<ReplicaStatus[]> {
  for (let attempt = 0; ; attempt++) {
    const statuses = await running.status()
    const positions = new Set(statuses.map((s) => s.position))
    const done = statuses.length === count && positions.size === 1 && statuses.every((s) => s.state === 'normal' && s.position >= atLeast)
    if (done || attempt >= 1500) return statuses
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

async function putAll(client: LockstepClient, from: number, to: number): Promise<void> {
  for (let i = from; i < to; i++) {
    const reply = await client.submit({ name: 'put', args: { key: `k${i}`, value: `v${i}` } }, { timeoutMs: 30_000 })
    expect(reply.ok, JSON.stringify(reply)).toBe(true)
  }
}

/** Reads keys k<from>..k<to - 1> through a client that asks `replica` first; each must hold v<i>. */
async function expectAll(running: LocalCluster, replica: string, from: number, to: number): Promise<void> {
  const reader = await running.client(`reader-${replica}-${from}-${to}`, { preferred: replica })
  try {
    for (let i = from; i < to; i++) {
      expect(await reader.call({ name: 'get', args: { key: `k${i}` } }, { timeoutMs: 30_000 }), `k${i} read through ${replica}`).toEqual([{ value: `v${i}` }])
    }
  } finally {
    await reader.stop()
  }
}

describe('backup and restore (docs/operations.md), storage "file"', () => {
  it('a copy taken while one replica is stopped restores it; a majority restored from older copies resumes with every put acknowledged before them, and a replica that drops positions of its own disk says so', async () => {
    const config = await writeLocalClusterConfig({ dir, basePort: 0, machine: 'kv', extra: { storage: { type: 'file', dir: 'data', sync: 'batch' } } })
    const dataDir = (id: string) => join(config.baseDir, 'data', id)
    const backup = (name: string) => join(dir, 'backups', name)
    cluster = await start(config)
    let writer = await cluster.client('writer', { preferred: 'r1' })
    await putAll(writer, 0, 5)

    // Consistent copy: stop r2 (SIGTERM), copy its directory, start it again. The others serve meanwhile.
    await stopReplica(cluster, 'r2')
    await putAll(writer, 5, 8)
    await copyDataDir(dataDir('r2'), backup('r2-old'))
    await cluster.restart('r2')
    await putAll(writer, 8, 12)
    const afterCopy = await settled(cluster, 3, 12)
    expect(new Set(afterCopy.map((s) => s.digest)).size, JSON.stringify(afterCopy)).toBe(1)

    // Restoring one replica from an old copy: it recovers that disk and the others bring it up to date.
    await stopReplica(cluster, 'r2', 'SIGKILL')
    await copyDataDir(backup('r2-old'), dataDir('r2'))
    await cluster.restart('r2')
    const restoredOne = await settled(cluster, 3, 12)
    expect(restoredOne.map((s) => s.id).sort()).toEqual(['r1', 'r2', 'r3'])
    expect(new Set(restoredOne.map((s) => s.digest)).size, JSON.stringify(restoredOne)).toBe(1)
    await expectAll(cluster, 'r2', 0, 12)

    // A point in time of a majority: r1 and r2 stopped together and copied; then more is acknowledged.
    await writer.stop()
    await stopAll(cluster)
    await copyDataDir(dataDir('r1'), backup('r1-at-12'))
    await copyDataDir(dataDir('r2'), backup('r2-at-12'))
    cluster = await start(config)
    writer = await cluster.client('writer-2', { preferred: 'r3' })
    await putAll(writer, 12, 16)
    await writer.stop()
    // Every replica executed k12..k15 (acknowledged when a majority's disks held them) before all stop cleanly.
    const newest = Math.max(...(await cluster.status({ digest: false })).map((s) => s.position))
    expect((await settled(cluster, 3, newest)).map((s) => s.position)).toEqual([newest, newest, newest])
    await stopAll(cluster)

    // Restoring the majority from those copies while r3 keeps its newer disk. Which state the cluster resumes from
    // depends on whose reports the recovering replicas' view change counts first: r3's newer disk, or only r1's and
    // r2's copies. Either way the replicas agree and serve, everything acknowledged before the copies is there, the
    // later puts that survive are a prefix of the order they were made in, and a replica that takes a state below
    // the position its own disk held says at warn which positions it drops.
    await copyDataDir(backup('r1-at-12'), dataDir('r1'))
    await copyDataDir(backup('r2-at-12'), dataDir('r2'))
    logs.length = 0
    cluster = await start(config)
    const restoredMajority = await settled(cluster, 3, 12)
    expect(restoredMajority.map((s) => s.id).sort()).toEqual(['r1', 'r2', 'r3'])
    expect(new Set(restoredMajority.map((s) => s.digest)).size, JSON.stringify(restoredMajority)).toBe(1)
    await expectAll(cluster, 'r3', 0, 12)
    const reader = await cluster.client('reader-after-restore', { preferred: 'r3' })
    const later: string[] = []
    for (let i = 12; i < 16; i++) later.push(((await reader.call({ name: 'get', args: { key: `k${i}` } }, { timeoutMs: 30_000 })) as { value: string }[])[0]!.value)
    await reader.stop()
    const kept = later.filter((value) => value !== '').length
    expect(later, 'the later puts that survive are a prefix').toEqual(['v12', 'v13', 'v14', 'v15'].map((value, i) => (i < kept ? value : '')))
    const messages = logs.map((line) => (JSON.parse(line) as { level: string; msg: string })).filter((line) => /^replica 'r\d' (recovered view|took the state|drops positions)/.test(line.msg))
    console.log(`backup and restore: after restoring a majority from older copies, ${kept} of the 4 later puts remain\n  ${messages.map((m) => `${m.level}: ${m.msg}`).join('\n  ')}`)
    // r3 stopped cleanly after executing position `newest`: its disk holds all of it (a clean stop once lost the
    // records that waited for the snapshot of a state it had just taken by catch-up).
    const r3Recovered = messages.map((m) => /^replica 'r3' recovered view \d+ at position (\d+)/.exec(m.msg)).find(Boolean)
    expect(Number(r3Recovered?.[1]), 'the position r3 recovered from its disk').toBe(newest)
    for (const id of ['r1', 'r2', 'r3']) {
      const recovered = messages.map((m) => new RegExp(`^replica '${id}' recovered view \\d+ at position (\\d+)`).exec(m.msg)).find(Boolean)
      const took = messages.map((m) => new RegExp(`^replica '${id}' took the state of view \\d+ at position (\\d+)`).exec(m.msg)).find(Boolean)
      const drops = messages.filter((m) => m.msg.startsWith(`replica '${id}' drops positions`))
      if (recovered && took && Number(took[1]) < Number(recovered[1])) {
        expect(drops.map((m) => [m.level, m.msg.split(' of its own order')[0]])).toEqual([['warn', `replica '${id}' drops positions ${Number(took[1]) + 1}..${recovered[1]}`]])
      }
    }
  }, 300_000)
})
