// A replica whose disk stops taking writes, with real `lockstep replica` processes over TCP and file storage: r3
// runs with a file-size limit (RLIMIT_FSIZE, `ulimit -f`: a write past it fails with EFBIG, as a full disk fails
// with ENOSPC). Before, r3 said "storage failed, stopping" at error level and halted its engine, but its process
// stayed up and its /health kept answering 200 "normal" for good: a supervisor or a load balancer saw a healthy
// replica. Now the process exits 1 after saying why; restarted on a disk that takes writes, it recovers from what
// its disk held and catches up; every acknowledged write reads back.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { clusterClient } from '../src/cluster-client'
import { parseClusterConfig } from '../src/cluster-config'
import { startLocalCluster, writeLocalClusterConfig, type LocalCluster } from '../src/local-cluster'
import { withFileSizeLimit } from '../src/file-size-limit'
import { cliBinPath, requireBuiltCli, stopEverything, trackPid, untilReport, waitFor } from './processes'

let dir: string
let cluster: LocalCluster | undefined
beforeAll(async () => {
  requireBuiltCli()
  dir = await mkdtemp(join(tmpdir(), 'lockstep-disk-full-'))
})
afterAll(async () => {
  await stopEverything([cluster], dir)
}, 60_000)

/** No file of a limited process may grow past 256 KiB: far less than the puts below write through each log. */
const LIMIT_BYTES = 256 * 1024

/** Runs `lockstep ARGS` with no file allowed past {@link LIMIT_BYTES}; its output so far, and its exit. */
function startLimited(args: string[]): { child: ChildProcess; stdout: () => string; stderr: () => string; exited: Promise<number | null> } {
  const [file, ...rest] = withFileSizeLimit([process.execPath, cliBinPath, ...args], LIMIT_BYTES)
  const child = spawn(file!, rest, { stdio: ['ignore', 'pipe', 'pipe'] })
  trackPid(child.pid!)
  let out = ''
  let err = ''
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk))
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (err += chunk))
  return { child, stdout: () => out, stderr: () => err, exited: new Promise((resolve) => child.once('close', (code) => resolve(code))) }
}

describe('a replica whose disk stops taking writes (real processes, storage "file")', () => {
  it('says why at error level and exits 1; the others go on; restarted on a disk with room, it catches up and nothing acknowledged is lost', async () => {
    const config = await writeLocalClusterConfig({ dir: join(dir, 'cluster'), basePort: 0, machine: 'kv', extra: { storage: { type: 'file', dir: 'data', sync: 'batch' } } })
    cluster = await startLocalCluster(config, { logLevel: 'warn' })
    for (const replica of cluster.replicas) trackPid(replica.pid)
    const r3 = cluster.replicas.find((r) => r.id === 'r3')!
    const gone = new Promise<void>((resolve) => r3.process.once('exit', () => resolve()))
    process.kill(r3.pid, 'SIGKILL')
    await gone
    const limited = startLimited(['replica', '--config', config.file, '--id', 'r3', '--log-level', 'warn'])
    await untilReport(config, 'r3', 'r3 serving again', (s) => s.status === 'normal' && s.view.members.includes('r3'))

    const client = await cluster.client('writer')
    const value = (i: number) => `${i}:${'v'.repeat(2_000)}`
    const acknowledged: number[] = []
    // 1,000 puts of 2 KB: ~2 MB through every replica's log, eight times r3's limit.
    for (let i = 0; i < 1_000; i++) {
      expect(await client.call({ name: 'put', args: { key: `k${i % 100}`, value: value(i) } })).toEqual([{}])
      acknowledged.push(i)
    }
    // The guard turns a hang into a failure, nothing more: the process must end by itself, saying why.
    const code = await Promise.race([limited.exited, new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), 60_000))])
    const errors = limited.stderr().split('\n').filter((l) => l.includes('"level":"error"'))
    expect(code, `r3 after its disk refused a write; its error lines:\n${errors.join('\n')}`).toBe(1)
    expect(errors.some((l) => l.includes('EFBIG') && l.includes('storage failed')), errors.join('\n')).toBe(true)

    // The other two went on without it.
    expect(await client.call({ name: 'put', args: { key: 'after', value: 'r3 stopped' } })).toEqual([{}])
    // Restarted without the limit, r3 recovers every complete record its disk holds and catches up.
    await cluster.restart('r3')
    const r1 = await untilReport(config, 'r1', 'r1 serving', (s) => s.status === 'normal')
    await untilReport(config, 'r3', 'r3 caught up with r1', (s) => s.status === 'normal' && s.position >= r1.position)
    const reader = await cluster.client('reader', { preferred: 'r3' })
    for (let k = 0; k < 100; k++) {
      const last = acknowledged.filter((i) => i % 100 === k).at(-1)!
      expect(await reader.call({ name: 'get', args: { key: `k${k}` } }), `k${k}`).toEqual([{ value: value(last) }])
    }
    expect(await reader.call({ name: 'get', args: { key: 'after' } })).toEqual([{ value: 'r3 stopped' }])
    await reader.stop()
    await client.stop()
    const statuses = await cluster.status()
    expect(new Set(statuses.map((s) => `${s.position}:${s.digest}`)).size, JSON.stringify(statuses)).toBe(1)
    await cluster.stop()
    cluster = undefined
  }, 240_000)
})

describe('cluster up --restart and a replica whose disk is full', () => {
  it('does not restart it (it would fail again, and each restart costs the others a view change): it says why and how to start it once fixed', async () => {
    // cluster up itself under the limit: its replicas inherit it, and each stops once its log reaches it.
    const clusterDir = join(dir, 'supervised')
    const up = startLimited(['cluster', 'up', '--restart', '--storage', 'file', '--machine', 'kv', '--base-port', '0', '--dir', clusterDir])
    const { child, exited } = up
    try {
      await waitFor('cluster up to be ready', () => up.stdout().includes('cluster ready') || child.exitCode !== null, 60_000)
      const pids = [...up.stdout().matchAll(/^ {2}(r\d+)\s+127\.0\.0\.1:\d+\s+pid (\d+)/gm)].map((m) => Number(m[2]))
      for (const pid of pids) trackPid(pid)
      expect(pids, up.stdout() + up.stderr()).toHaveLength(3)
      const configFile = join(clusterDir, 'cluster.json')
      const client = await clusterClient(parseClusterConfig(await readFile(configFile, 'utf8'), configFile), { id: 'writer', retryAfterMs: 200 })
      await client.start()
      // Puts of 2 KB until the cluster stops answering: every replica's log reaches the limit.
      for (let i = 0; i < 2_000; i++) {
        try {
          await client.call({ name: 'put', args: { key: `k${i % 50}`, value: 'v'.repeat(2_000) } }, { timeoutMs: 5_000 })
        } catch {
          break
        }
      }
      await client.stop()
      await waitFor('cluster up to report the replicas whose storage failed', () => (up.stderr().match(/its storage failed/g) ?? []).length >= 2, 60_000)
      // Let a restart happen if cluster up would make one.
      await new Promise((resolve) => setTimeout(resolve, 3_000))
      const err = up.stderr()
      const failed = [...err.matchAll(/replica (r\d) \(pid \d+\) exited \(exit code 1\): its storage failed/g)].map((m) => m[1])
      expect(failed.length, err).toBeGreaterThanOrEqual(2)
      for (const id of failed) expect(err, `cluster up's word on ${id}`).toContain(`cluster up does not restart it (--restart): it would fail again. Once the cause is fixed (a full disk?), start it with: npx lockstep replica --config ${configFile} --id ${id}`)
      expect(err).not.toMatch(/restarted by cluster up/)
      expect(child.exitCode, 'cluster up keeps running, the state safe on the disks').toBeNull()
    } finally {
      child.kill('SIGINT')
      await exited
    }
  }, 240_000)
})
