import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePorts, writeLocalClusterConfig } from '../src/local-cluster'
import { closedLoop } from '../src/commands/bench'
import type { LockstepClient } from '@lockstep/client'
import { specs } from './io'
import { useLocalCluster } from './local-cluster-fixture'
import { runCli } from './processes'

// `lockstep bench` against local clusters, as an operator runs it. Outcomes only: the shape of the JSON, that
// something was measured, exit codes and messages; never how fast.
const kvCluster = useLocalCluster('lockstep-bench-kv-', { machine: 'kv' })
const lockCluster = useLocalCluster('lockstep-bench-lock-', { machine: join(specs, 'safe-mutex.sm') })

/** A short run: the test is about the command, not the numbers. */
const short = ['--clients', '4', '--duration', '0.5', '--warmup', '0.2']

function parseOneObject(stdout: string): Record<string, unknown> {
  const lines = stdout.trim().split('\n')
  expect(lines).toHaveLength(1)
  return JSON.parse(lines[0]!) as Record<string, unknown>
}

describe('lockstep bench', () => {
  it('--workload put --json prints one object with ops_s, p50 and p99 (ms), and exits 0', async () => {
    const run = await runCli(['bench', '--cluster', kvCluster.cluster.configFile, '--workload', 'put', ...short, '--json'])
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    const result = parseOneObject(run.stdout)
    expect(result).toMatchObject({ workload: 'put', clients: 4, in_flight: 1, shared_connections: false, duration_s: 0.5, warmup_s: 0.2, errors: 0, replicas: 3, order: 'lamport', voter: 'first' })
    for (const key of ['ops_s', 'p50', 'p99', 'max', 'ops']) expect(typeof result[key], key).toBe('number')
    expect(result.ops_s).toBeGreaterThan(0)
    expect(result.ops).toBeGreaterThan(0)
    expect(result.p50 as number).toBeGreaterThan(0)
    expect(result.p99 as number).toBeGreaterThanOrEqual(result.p50 as number)
    expect(result).not.toHaveProperty('error')
    // The puts went through the cluster: its keys hold the workload's values.
    const get = await runCli(['client', '--cluster', kvCluster.cluster.configFile, 'get', '{"key":"lockstep-bench-0"}'])
    expect(get.code).toBe(0)
    expect(JSON.parse(get.stdout)).toMatchObject({ ok: true, outputs: [{ value: expect.stringMatching(/^\d+$/) }] })
  }, 60_000)

  it('--in-flight K keeps K puts in flight on each client (pipelined), and says so', async () => {
    const run = await runCli(['bench', '--cluster', kvCluster.cluster.configFile, '--workload', 'put', '--clients', '2', '--in-flight', '8', '--duration', '0.5', '--warmup', '0.2', '--json'])
    expect(run.code).toBe(0)
    const result = parseOneObject(run.stdout)
    expect(result).toMatchObject({ workload: 'put', clients: 2, in_flight: 8, errors: 0 })
    expect(result.ops as number).toBeGreaterThan(0)
    const line = await runCli(['bench', '--cluster', kvCluster.cluster.configFile, '--workload', 'put', '--clients', '1', '--in-flight', '4', '--duration', '0.3', '--warmup', '0'])
    expect(line.stdout).toMatch(/^lockstep bench: put, 1 clients × 4 in flight, 0\.3 s on 3 replicas/)
  }, 60_000)

  it('--shared-connections: the clients share one connection to each replica, and it says so', async () => {
    const run = await runCli(['bench', '--cluster', kvCluster.cluster.configFile, '--workload', 'put', '--clients', '6', '--shared-connections', '--duration', '0.5', '--warmup', '0.2', '--json'])
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    const result = parseOneObject(run.stdout)
    expect(result).toMatchObject({ workload: 'put', clients: 6, in_flight: 1, shared_connections: true, errors: 0 })
    expect(result.ops as number).toBeGreaterThan(0)
    const line = await runCli(['bench', '--cluster', kvCluster.cluster.configFile, '--workload', 'put', '--clients', '2', '--shared-connections', '--duration', '0.3', '--warmup', '0'])
    expect(line.stdout).toMatch(/^lockstep bench: put, 2 clients sharing one connection per replica, 0\.3 s on 3 replicas/)
  }, 60_000)

  it('--workload lock measures acquire + release pairs on the safe mutex and leaves the lock free', async () => {
    const run = await runCli(['bench', '--cluster', lockCluster.cluster.configFile, '--workload', 'lock', ...short, '--json'])
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    const result = parseOneObject(run.stdout)
    expect(result).toMatchObject({ workload: 'lock', clients: 4, errors: 0 })
    expect(result.ops_s).toBeGreaterThan(0)
    expect(result.p99 as number).toBeGreaterThanOrEqual(result.p50 as number)
    // Every pair was completed, so a new client is granted the lock at once (the safe mutex's grant is a token).
    const acquire = await runCli(['client', '--cluster', lockCluster.cluster.configFile, '--no-wait', 'acquire'])
    expect(acquire.code).toBe(0)
    expect(JSON.parse(acquire.stdout)).toMatchObject({ ok: true, outputs: [expect.any(Number)] })
    const release = await runCli(['client', '--cluster', lockCluster.cluster.configFile, 'release'])
    expect(JSON.parse(release.stdout)).toMatchObject({ ok: true, outputs: ['NOT_HOLDER'] })
  }, 60_000)

  it('without --json prints one readable line', async () => {
    const run = await runCli(['bench', '--cluster', kvCluster.cluster.configFile, '--workload', 'put', '--clients', '2', '--duration', '0.3', '--warmup', '0'])
    expect(run.code).toBe(0)
    expect(run.stdout).toMatch(/^lockstep bench: put, 2 clients, 0\.3 s on 3 replicas \(lamport ordering\): [\d,.]+ puts\/s, p50 [\d.]+ ms, p99 [\d.]+ ms, max [\d.]+ ms, 0 errors\n$/)
  }, 60_000)

  it('refuses a workload whose commands the machine lacks, with exit 2', async () => {
    const lock = await runCli(['bench', '--cluster', kvCluster.cluster.configFile, '--workload', 'lock', ...short])
    expect(lock.code).toBe(2)
    expect(lock.stdout).toBe('')
    expect(lock.stderr).toMatch(/lockstep bench: UNSUPPORTED: --workload lock submits acquire and release, but the machine of .*cluster\.json \(kv\) has no acquire or release command \(its commands: get, put, append\)/)
    const put = await runCli(['bench', '--cluster', lockCluster.cluster.configFile, '--workload', 'put', ...short])
    expect(put.code).toBe(2)
    expect(put.stderr).toMatch(/UNSUPPORTED: --workload put submits put, but the machine of .* has no put command \(its commands: acquire, release\)/)
  }, 60_000)

  it('exits 2 for bad usage', async () => {
    const file = kvCluster.cluster.configFile
    const cases: [string[], RegExp][] = [
      [['--workload', 'put'], /--cluster is required/],
      [['--cluster', file], /--workload is required \(put or lock\)/],
      [['--cluster', file, '--workload', 'get'], /--workload 'get' is not a workload; choose from put, lock/],
      [['--cluster', file, '--workload', 'put', '--clients', '0'], /--clients must be a whole number from 1 to 10000 \(got '0'\)/],
      [['--cluster', file, '--workload', 'put', '--duration', '0'], /--duration must be a number of seconds above 0 up to 86400 \(got '0'\)/],
      [['--cluster', file, '--workload', 'put', '--warmup', 'x'], /--warmup must be a number of seconds from 0 up to 86400 \(got 'x'\)/],
      [['--cluster', file, '--workload', 'put', '--voter', 'most'], /--voter 'most' is not a voter/],
      [['--cluster', file, '--workload', 'put', '--in-flight', '0'], /--in-flight must be a whole number from 1 to 1000 \(got '0'\)/],
      [['--cluster', file, '--workload', 'lock', '--in-flight', '2'], /--in-flight applies to --workload put only/],
      [['--cluster', file, '--workload', 'put', '--threads', '2'], /Unknown option '--threads'/],
      [['--cluster', file, '--workload', 'put', '--cert', 'c.pem', '--key', 'c.key'], /--cert was given but .*cluster\.json has no security\.tls; the cluster authenticates clients with the client secret/],
    ]
    for (const [args, message] of cases) {
      const run = await runCli(['bench', ...args])
      expect(run.code, args.join(' ')).toBe(2)
      expect(run.stderr, args.join(' ')).toMatch(message)
    }
  }, 60_000)
})

describe('the closed loops of lockstep bench', () => {
  it('run --in-flight loops per client at once, each with its own index', async () => {
    const clients = ['a', 'b'].map((id) => ({ id }) as unknown as LockstepClient)
    const inFlight = new Map<string, number>()
    const most = new Map<string, number>()
    const indexes = new Set<number>()
    const run = await closedLoop(clients, 3, async (client, index) => {
      indexes.add(index)
      inFlight.set(client.id, (inFlight.get(client.id) ?? 0) + 1)
      most.set(client.id, Math.max(most.get(client.id) ?? 0, inFlight.get(client.id)!))
      await new Promise((resolve) => setTimeout(resolve, 1))
      inFlight.set(client.id, inFlight.get(client.id)! - 1)
    }, { warmupMs: 0, durationMs: 30 })
    expect(run.errors).toBe(0)
    expect(Object.fromEntries(most)).toEqual({ a: 3, b: 3 })
    expect([...indexes].sort()).toEqual([0, 1, 2, 3, 4, 5])
  })
})

describe('lockstep bench against a cluster that is not running', () => {
  let dir: string
  let configFile: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lockstep-bench-down-'))
    const [basePort] = await freePorts(1)
    // Ports nobody listens on: the configuration of a cluster that was never started.
    const config = await writeLocalClusterConfig({ dir, basePort: basePort!, replicas: 3, machine: 'kv' })
    configFile = config.file
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('exits 1 at once with UNREACHABLE, and --json still prints the object with the error', async () => {
    const run = await runCli(['bench', '--cluster', configFile, '--workload', 'put', ...short, '--json'])
    expect(run.code).toBe(1)
    expect(run.stderr).toMatch(/^lockstep bench: UNREACHABLE: .*every replica refused it.*\(cluster .*cluster\.json\)\n$/s)
    const result = parseOneObject(run.stdout)
    expect(result).toMatchObject({ workload: 'put', ops: 0, ops_s: 0, errors: expect.any(Number), error: { code: 'UNREACHABLE' } })
    expect(result.errors).toBeGreaterThan(0)
  }, 60_000)
})
