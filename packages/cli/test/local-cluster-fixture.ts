import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll } from 'vitest'
import { upLocalCluster, type LocalCluster, type LocalClusterSpec } from '../src/local-cluster'
import { requireBuiltCli, stopEverything } from './processes'

/**
 * A local cluster for a test file: started before its tests in a fresh temporary directory (`prefix`),
 * stopped after them with every process the file started, and the directory removed.
 */
export function useLocalCluster(prefix: string, spec: Omit<LocalClusterSpec, 'dir'> = {}): { readonly cluster: LocalCluster; readonly dir: string } {
  let dir: string | undefined
  let cluster: LocalCluster | undefined
  beforeAll(async () => {
    requireBuiltCli()
    dir = await mkdtemp(join(tmpdir(), prefix))
    cluster = await upLocalCluster({ machine: 'kv', basePort: 0, logLevel: 'warn', ...spec, dir: join(dir, 'cluster') })
  }, 90_000)
  afterAll(async () => {
    await stopEverything([cluster], dir)
    // Longer than a stop can take: a replica that has not exited 10 s after SIGTERM is killed (stopChild).
    // Found: the default 10 s failed a CI run when one replica of large-values.test.ts did not exit (it was busy).
  }, 60_000)
  return {
    get cluster() {
      if (!cluster) throw new Error('the local cluster is not started (use it inside a test)')
      return cluster
    },
    get dir() {
      if (!dir) throw new Error('the local cluster is not started (use it inside a test)')
      return dir
    },
  }
}
