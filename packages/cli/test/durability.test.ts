import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startLocalCluster, writeLocalClusterConfig, type LocalCluster } from '../src/local-cluster'
import type { LoadedClusterConfig } from '../src/cluster-config'
import { requireBuiltCli, runCli, stopEverything, trackPid } from './processes'

let dir: string
let cluster: LocalCluster | undefined
beforeAll(async () => {
  requireBuiltCli()
  dir = await mkdtemp(join(tmpdir(), 'lockstep-durable-'))
})
afterAll(async () => {
  await stopEverything([cluster], dir)
}, 60_000)

async function start(config: LoadedClusterConfig): Promise<LocalCluster> {
  const started = await startLocalCluster(config)
  for (const replica of started.replicas) trackPid(replica.pid)
  return started
}

/** kill -9 every replica process and wait until all are gone. */
async function killAll(running: LocalCluster): Promise<void> {
  const exits = running.replicas.map((r) => new Promise<void>((resolve) => (r.process.exitCode !== null || r.process.signalCode !== null ? resolve() : r.process.once('exit', () => resolve()))))
  for (const replica of running.replicas) process.kill(replica.pid, 'SIGKILL')
  await Promise.all(exits)
}

describe('durable replicas (storage "file", sync per batch)', () => {
  it('a whole cluster killed with kill -9 and restarted from its disks resumes with every acknowledged request', async () => {
    const config = await writeLocalClusterConfig({ dir, basePort: 0, machine: 'kv', extra: { storage: { type: 'file', dir: 'data', sync: 'batch' } } })
    cluster = await start(config)
    const acknowledged: string[] = []
    for (let i = 0; i < 15; i++) {
      const put = await runCli(['client', '--cluster', cluster.configFile, 'put', JSON.stringify({ key: `k${i}`, value: `v${i}` })])
      expect(put.code, put.stderr).toBe(0)
      acknowledged.push(`k${i}`)
    }
    await killAll(cluster)
    cluster = await start(config) // same ports, same disks
    for (const key of acknowledged) {
      const get = await runCli(['client', '--cluster', cluster.configFile, '--timeout-ms', '30000', 'get', JSON.stringify({ key })])
      expect(get.code, get.stderr).toBe(0)
      expect(JSON.parse(get.stdout).outputs).toEqual([{ value: key.replace('k', 'v') }])
    }
  }, 180_000)
})
