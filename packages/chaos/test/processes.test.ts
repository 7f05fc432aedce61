import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { ChaosCluster } from '../src/index'
import { waitForExit } from '../src/processes'

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

describe('ChaosCluster: replica processes', () => {
  it('a replica restarted while another process holds its port a moment starts once the port is free again', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lockstep-chaos-processes-'))
    cleanups.push(() => rm(dir, { recursive: true, force: true }))
    const cluster = await ChaosCluster.create({ dir, machine: 'kv' })
    cleanups.push(() => cluster.stop())
    await Promise.all(cluster.ids.map((id) => cluster.start(id)))
    const [id] = cluster.ids
    const port = cluster.config.replicas.find((r) => r.id === id)!.port
    await cluster.kill(id!)
    // Another process takes the port while the replica is down, and lets it go 1.5 s later.
    const squatter = createServer((socket) => socket.destroy())
    await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve))
    setTimeout(() => squatter.close(), 1500)
    await cluster.start(id!)
    expect(cluster.isRunning(id!)).toBe(true)
    const log = await readFile(join(dir, 'replicas.log'), 'utf8')
    expect(log).toMatch(new RegExp(`replica ${id}: its port was in use \\(attempt 1\\); trying again`))
  }, 120_000)

  it("reports what a replica said when an unexpected error stopped its engine (a bug the run must report)", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lockstep-chaos-processes-'))
    cleanups.push(() => rm(dir, { recursive: true, force: true }))
    // A machine whose snapshot always throws: each replica calls it as the cluster starts (the view's first image).
    const machine = join(dir, 'broken-snapshot.mjs')
    await writeFile(
      machine,
      `export const machine = { name: 'broken-snapshot', init: () => ({}), apply: () => [], snapshot: () => { throw new Error('cannot write this state') }, restore: () => ({}) }\n`,
    )
    const cluster = await ChaosCluster.create({ dir, machine })
    cleanups.push(() => cluster.stop())
    await Promise.all(cluster.ids.map((id) => cluster.start(id)))
    for (let i = 0; i < 3_000 && cluster.engineFailures().length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 10))
    expect(cluster.engineFailures().length, await readFile(join(dir, 'replicas.log'), 'utf8')).toBeGreaterThanOrEqual(2)
    for (const said of cluster.engineFailures()) expect(said).toMatch(/^replica r\d: replica 'r\d' stopped: an unexpected error while .*machine 'broken-snapshot' failed in snapshot: cannot write this state/)
  }, 120_000)

  it('gives the replicas no operator endpoint (one port fewer for another process to take)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lockstep-chaos-processes-'))
    cleanups.push(() => rm(dir, { recursive: true, force: true }))
    const cluster = await ChaosCluster.create({ dir, machine: 'kv' })
    cleanups.push(() => cluster.stop())
    expect(cluster.config.replicas.map((r) => r.metricsPort)).toEqual([undefined, undefined, undefined])
  })
})

describe('waitForExit: how long the full nemesis waits for a replica whose disk filled', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  /** A replica process as the wait sees it: it says its storage failed at `saysAtMs` and exits at `exitsAtMs`, if ever. */
  function replica(saysAtMs: number | undefined, exitsAtMs: number | undefined) {
    let running = true
    let said = false
    if (saysAtMs !== undefined) setTimeout(() => (said = true), saysAtMs)
    const closed = new Promise<void>((resolve) => {
      if (exitsAtMs === undefined) return
      setTimeout(() => {
        running = false
        resolve()
      }, exitsAtMs)
    })
    return { closed, running: () => running, storageFailed: () => said }
  }

  /** Runs the wait on virtual timers; resolves whether the replica still ran when the wait ended, and when that was. */
  async function waitOn(process: ReturnType<typeof replica>, ms: number, graceMs: number) {
    let ended: { readonly running: boolean; readonly atMs: number } | undefined
    const started = Date.now()
    const waiting = waitForExit(process, ms, graceMs).then(() => (ended = { running: process.running(), atMs: Date.now() - started }))
    await vi.advanceTimersByTimeAsync(ms + graceMs + 3_000)
    await waiting
    return ended
  }

  it('gives one that said its storage failed just before the wait ended the time to exit (chaos seed 51002)', async () => {
    vi.useFakeTimers()
    expect(await waitOn(replica(90, 160), 100, 1_000)).toEqual({ running: false, atMs: 160 })
  })

  it('ends the wait for one that said so and goes on running once the grace is over, and at once for one that said nothing', async () => {
    vi.useFakeTimers()
    expect(await waitOn(replica(20, undefined), 50, 100)).toEqual({ running: true, atMs: 150 })
    expect(await waitOn(replica(undefined, undefined), 50, 100_000)).toEqual({ running: true, atMs: 50 })
    expect(await waitOn(replica(undefined, 30), 50, 100)).toEqual({ running: false, atMs: 30 })
  })
})
