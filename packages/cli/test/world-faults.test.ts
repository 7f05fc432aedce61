import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { killEverything, requireBuiltCli, runCli, startCli, trackPid, waitFor, type CliProcess } from './processes'

// The world's faults at process level: real `lockstep replica` processes over TCP on 127.0.0.1, started by
// `lockstep cluster up`, killed with SIGKILL and restarted with the command `cluster up` printed.

let dir: string
beforeAll(async () => {
  requireBuiltCli()
  dir = await mkdtemp(join(tmpdir(), 'lockstep-world-'))
})
afterAll(async () => {
  killEverything()
  await rm(dir, { recursive: true, force: true })
})

interface Up {
  readonly process: CliProcess
  readonly configFile: string
  readonly pids: Map<string, number>
  /** The restart command `cluster up` printed for each replica, as arguments after `lockstep`. */
  readonly restart: Map<string, string[]>
}

async function clusterUp(name: string, extra: string[] = [], machine = 'kv'): Promise<Up> {
  const process = startCli(['cluster', 'up', '--replicas', '3', '--machine', machine, '--base-port', '0', '--dir', join(dir, name), ...extra])
  await waitFor('cluster up to be ready', () => process.stdout().includes('cluster ready') || process.child.exitCode !== null, 60_000)
  const pids = new Map<string, number>()
  for (const match of process.stdout().matchAll(/^ {2}(r\d+)\s+127\.0\.0\.1:\d+\s+pid (\d+)(?: {2}metrics http:\/\/\S+)?$/gm)) {
    pids.set(match[1]!, Number(match[2]))
    trackPid(Number(match[2]))
  }
  const restart = new Map<string, string[]>()
  for (const match of process.stdout().matchAll(/^ {2}npx lockstep (replica --config \S+ --id (r\d+))$/gm)) restart.set(match[2]!, match[1]!.split(' '))
  expect(pids.size, process.stdout() + process.stderr()).toBe(3)
  return { process, configFile: join(dir, name, 'cluster.json'), pids, restart }
}

/** Starts a replica with the exact arguments `cluster up` printed (after `npx lockstep`). */
function restartReplica(up: Up, id: string): CliProcess {
  const args = up.restart.get(id)
  expect(args, `cluster up printed how to restart ${id}`).toBeDefined()
  const replica = startCli(args!)
  if (replica.child.pid !== undefined) trackPid(replica.child.pid)
  return replica
}

const client = (up: Up, args: string[]) => runCli(['client', '--cluster', up.configFile, ...args])

describe('the world\'s faults with real processes', () => {
  it('cluster up --storage file: kill -9 two replicas, restart them one after another with the printed command, and every acknowledged write reads back', async () => {
    const up = await clusterUp('durable', ['--storage', 'file'])
    expect(up.process.stdout()).toMatch(/storage\s+file: .*durable\/data\/<id>, fsync per batch/)
    const acknowledged: string[] = []
    for (let i = 0; i < 10; i++) {
      const put = await client(up, ['put', JSON.stringify({ key: `k${i}`, value: `v${i}` })])
      expect(put.code, put.stderr).toBe(0)
      acknowledged.push(`k${i}`)
    }
    for (const id of ['r1', 'r2']) process.kill(up.pids.get(id)!, 'SIGKILL')
    await waitFor('cluster up to report both deaths', () => (up.process.stderr().match(/exited unexpectedly/g) ?? []).length === 2, 30_000)
    expect(up.process.child.exitCode, 'cluster up keeps the survivor running').toBeNull()
    const r1 = restartReplica(up, 'r1')
    await waitFor('r1 to listen', () => /listening/.test(r1.stderr()) || r1.child.exitCode !== null, 30_000)
    expect(r1.child.exitCode, r1.stderr()).toBeNull()
    const r2 = restartReplica(up, 'r2')
    // Service resumes within 5 s of the second restart: a put with a 5 s budget succeeds.
    const put = await client(up, ['--timeout-ms', '5000', 'put', JSON.stringify({ key: 'after', value: 'restart' })])
    expect(put.code, `${put.stderr}\nr1: ${r1.stderr()}\nr2: ${r2.stderr()}`).toBe(0)
    for (const key of acknowledged) {
      const get = await client(up, ['--timeout-ms', '30000', 'get', JSON.stringify({ key })])
      expect(get.code, get.stderr).toBe(0)
      expect(JSON.parse(get.stdout).outputs).toEqual([{ value: key.replace('k', 'v') }])
    }
    up.process.child.kill('SIGINT')
    await up.process.exited
  }, 180_000)

  it('Found 4: a replica restarted without --join and without its state (memory storage) does not answer from an empty state', async () => {
    const up = await clusterUp('amnesia')
    const put = await client(up, ['--id', 'writer', 'put', JSON.stringify({ key: 'x', value: 'kept' })])
    expect(put.code, put.stderr).toBe(0)
    process.kill(up.pids.get('r2')!, 'SIGKILL')
    await waitFor('cluster up to report the death', () => up.process.stderr().includes('exited unexpectedly'), 30_000)
    const r2 = restartReplica(up, 'r2') // a supervisor's usual command line: no --join
    // Reads through r2 first: whatever r2 answers must be the acknowledged write, never "".
    for (let i = 0; i < 5; i++) {
      const get = await client(up, ['--id', `reader${i}`, '--replica', 'r2', '--timeout-ms', '30000', 'get', JSON.stringify({ key: 'x' })])
      expect(get.code, get.stderr).toBe(0)
      expect(JSON.parse(get.stdout).outputs, `${get.stdout}\ncluster up: ${up.process.stderr()}\nr2: ${r2.stderr()}`).toEqual([{ value: 'kept' }])
    }
    up.process.child.kill('SIGINT')
    await up.process.exited
  }, 180_000)

  it('Found 5: a reused client id never takes the previous run\'s reply, and its request executes', async () => {
    const up = await clusterUp('reuse', [], 'mutex')
    for (let round = 0; round < 5; round++) {
      const acquire = await client(up, ['--id', 'gina', 'acquire'])
      expect(acquire.code, acquire.stderr).toBe(0)
      expect(JSON.parse(acquire.stdout).outputs, `round ${round}: gina is granted the lock`).toEqual(['OK'])
      const release = await client(up, ['--id', 'gina', 'release'])
      expect(release.code, release.stderr).toBe(0)
      // The release's own reply, not the acquire's: a release outputs nothing to its requester.
      expect(JSON.parse(release.stdout).outputs, `round ${round}: the release's reply`).toEqual([])
    }
    up.process.child.kill('SIGINT')
    await up.process.exited
  }, 180_000)
})
