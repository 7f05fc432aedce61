import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseClusterConfig } from '../src/cluster-config'
import { isRunning, killEverything, requireBuiltCli, runCli, startCli, trackPid, untilReport, waitFor, type CliProcess } from './processes'

// `lockstep cluster up` supervises its replicas by id, whether it started them or not: real processes over TCP
// on 127.0.0.1, killed with SIGKILL, restarted with the printed command or by `cluster up --restart` itself.
// Outcomes only: which processes run, what cluster up says, and that the cluster serves requests.

let dir: string
beforeAll(async () => {
  requireBuiltCli()
  dir = await mkdtemp(join(tmpdir(), 'lockstep-supervise-'))
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

async function clusterUp(name: string, extra: string[] = []): Promise<Up> {
  const process = startCli(['cluster', 'up', '--replicas', '3', '--machine', 'kv', '--base-port', '0', '--dir', join(dir, name), ...extra])
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

const client = (up: Up, args: string[]) => runCli(['client', '--cluster', up.configFile, '--timeout-ms', '30000', ...args])

/** The number of times `pattern` occurs in `text`. */
const count = (text: string, pattern: RegExp) => (text.match(new RegExp(pattern.source, 'g')) ?? []).length

describe('cluster up supervises every replica of its configuration by id', () => {
  it('Found 4: a replica restarted outside cluster up counts; when another dies, the majority keeps running and serving', async () => {
    const up = await clusterUp('outside')
    try {
      const put = await client(up, ['--id', 'writer', 'put', JSON.stringify({ key: 'x', value: 'kept' })])
      expect(put.code, put.stderr).toBe(0)

      // r1 dies and comes back with the printed command: a process cluster up did not start.
      process.kill(up.pids.get('r1')!, 'SIGKILL')
      await waitFor('cluster up to report r1', () => up.process.stderr().includes('replica r1 (pid') || up.process.child.exitCode !== null, 30_000)
      const r1 = startCli(up.restart.get('r1')!)
      trackPid(r1.child.pid!)
      await waitFor('r1 to take the state and serve again', () => r1.stderr().includes("replica 'r1' took") || r1.child.exitCode !== null, 60_000)
      expect(r1.child.exitCode, r1.stderr()).toBeNull()

      // Then r2, a child of cluster up, dies: r1 (outside) and r3 (child) are still a majority of 3.
      process.kill(up.pids.get('r2')!, 'SIGKILL')
      await waitFor('cluster up to report r2', () => up.process.stderr().includes('replica r2 (pid') || up.process.child.exitCode !== null, 30_000)
      expect(up.process.stderr()).toContain(`replica r2 (pid ${up.pids.get('r2')}) exited unexpectedly (signal SIGKILL); the 2 others go on without it`)
      expect(up.process.stderr()).not.toContain('stopping')
      const get = await client(up, ['--id', 'reader', 'get', JSON.stringify({ key: 'x' })])
      expect(get.code, get.stderr + up.process.stderr()).toBe(0)
      expect(JSON.parse(get.stdout).outputs).toEqual([{ value: 'kept' }])
      const after = await client(up, ['--id', 'writer2', 'put', JSON.stringify({ key: 'y', value: 'after' })])
      expect(after.code, after.stderr).toBe(0)
      expect(up.process.child.exitCode, 'cluster up keeps running').toBeNull()
      expect(isRunning(up.pids.get('r3')!), 'r3 (child of cluster up) runs').toBe(true)
      expect(isRunning(r1.child.pid!), 'r1 (restarted outside cluster up) runs').toBe(true)
      expect(up.process.stderr()).toMatch(/replica r1 answers again at 127\.0\.0\.1:\d+ \(not started by this cluster up\)/)

      // Now r1, which runs outside cluster up, dies too: only r3 is left, fewer than a majority, memory storage.
      r1.child.kill('SIGKILL')
      await waitFor('cluster up to stop', () => up.process.child.exitCode !== null, 30_000)
      expect(up.process.child.exitCode, up.process.stderr()).toBe(1)
      expect(up.process.stderr()).toMatch(/replica r1 at 127\.0\.0\.1:\d+ \(not started by this cluster up\) no longer answers; only 1 of 3 replicas run, fewer than a majority \(2\), so the cluster cannot order requests: stopping/)
      expect(isRunning(up.pids.get('r3')!), 'r3 was stopped with the cluster').toBe(false)
    } finally {
      up.process.child.kill('SIGINT')
      await up.process.exited
    }
  }, 240_000)

  it('--restart: cluster up restarts a crashed replica itself, also one it restarted before, and the cluster serves', async () => {
    const up = await clusterUp('restart', ['--restart'])
    try {
      expect(up.process.child.exitCode, up.process.stderr()).toBeNull()
      const put = await client(up, ['--id', 'writer', 'put', JSON.stringify({ key: 'x', value: 'kept' })])
      expect(put.code, put.stderr).toBe(0)

      const restartedPid = async (id: string, nth: number) => {
        const pattern = new RegExp(`replica ${id} restarted by cluster up \\(pid (\\d+)\\)`)
        await waitFor(`cluster up to restart ${id}`, () => count(up.process.stderr(), pattern) >= nth || up.process.child.exitCode !== null, 60_000)
        const pids = [...up.process.stderr().matchAll(new RegExp(pattern.source, 'g'))].map((m) => Number(m[1]))
        expect(pids.length, up.process.stderr()).toBe(nth)
        const pid = pids[nth - 1]!
        trackPid(pid)
        return pid
      }

      // A child dies: cluster up starts it again by itself.
      process.kill(up.pids.get('r2')!, 'SIGKILL')
      const r2 = await restartedPid('r2', 1)
      expect(r2).not.toBe(up.pids.get('r2'))
      expect(isRunning(r2)).toBe(true)
      // r2 rejoins: it serves again, a member of the view, with the state it took. Wait for that before the next
      // crash: a replica that has not rejoined yet leaves a request unanswered and the client asks another, so a
      // read alone does not show it (found in a fresh-clone CI run: r3 was killed while r2 still waited to rejoin,
      // which left r1 the only replica with the state, and with memory storage the cluster then rightly waits).
      const config = parseClusterConfig(await readFile(up.configFile, 'utf8'), up.configFile)
      await untilReport(config, 'r2', 'to rejoin and serve', (report) => report.status === 'normal' && report.view.members.includes('r2'))
      // Reading through r2 first: it serves the acknowledged write.
      const get = await client(up, ['--id', 'reader', '--replica', 'r2', 'get', JSON.stringify({ key: 'x' })])
      expect(get.code, get.stderr + up.process.stderr()).toBe(0)
      expect(JSON.parse(get.stdout).outputs, `${get.stdout}\n${up.process.stderr()}`).toEqual([{ value: 'kept' }])

      // Another child dies, and then the replica cluster up restarted in its place: each time it starts it again.
      process.kill(up.pids.get('r3')!, 'SIGKILL')
      const r3Restarted = await restartedPid('r3', 1)
      process.kill(r3Restarted, 'SIGKILL')
      const r3 = await restartedPid('r3', 2)
      expect(isRunning(r3)).toBe(true)
      const after = await client(up, ['--id', 'writer2', '--replica', 'r3', 'put', JSON.stringify({ key: 'y', value: 'after' })])
      expect(after.code, after.stderr + up.process.stderr()).toBe(0)
      expect(up.process.child.exitCode, 'cluster up keeps running').toBeNull()
      expect(isRunning(up.pids.get('r1')!)).toBe(true)

      up.process.child.kill('SIGINT')
      const { code } = await up.process.exited
      expect(code, up.process.stderr()).toBe(0)
      for (const pid of [up.pids.get('r1')!, r2, r3]) expect(isRunning(pid), `pid ${pid} stopped with the cluster`).toBe(false)
    } finally {
      up.process.child.kill('SIGINT')
      await up.process.exited
    }
  }, 240_000)

  it('SIGINT stops the children and names the replica restarted by hand, which it cannot stop', async () => {
    const up = await clusterUp('interrupt')
    try {
      process.kill(up.pids.get('r3')!, 'SIGKILL')
      await waitFor('cluster up to report r3', () => up.process.stderr().includes('replica r3 (pid') || up.process.child.exitCode !== null, 30_000)
      const r3 = startCli(up.restart.get('r3')!)
      trackPid(r3.child.pid!)
      await waitFor('cluster up to notice r3 again', () => up.process.stderr().includes('replica r3 answers again') || up.process.child.exitCode !== null, 60_000)
      const put = await client(up, ['--id', 'writer', '--replica', 'r3', 'put', JSON.stringify({ key: 'x', value: '1' })])
      expect(put.code, put.stderr).toBe(0)

      up.process.child.kill('SIGINT')
      const { code } = await up.process.exited
      expect(code, up.process.stderr()).toBe(0)
      expect(up.process.stderr()).toContain('lockstep cluster: SIGINT: stopping 2 replicas')
      expect(up.process.stderr()).toMatch(/replica r3 at 127\.0\.0\.1:\d+ was not started by this cluster up and still runs: stop it where it was started/)
      for (const id of ['r1', 'r2']) expect(isRunning(up.pids.get(id)!), id).toBe(false)
      expect(isRunning(r3.child.pid!), 'r3 runs on, as said').toBe(true)
      r3.child.kill('SIGINT')
      expect((await r3.exited).code).toBe(0)
    } finally {
      up.process.child.kill('SIGINT')
      await up.process.exited
    }
  }, 240_000)
})
