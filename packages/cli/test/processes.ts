import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readFile, rm } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describeUncleanStop, type LocalCluster } from '../src/local-cluster'
import { parseClusterConfig, type LoadedClusterConfig } from '../src/cluster-config'

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..')

/** The `lockstep` launcher; the tests run the built CLI, as users do. */
export const cliBinPath = join(packageRoot, 'bin', 'lockstep.js')

/** Fails early, and clearly, when the CLI was not built. */
export function requireBuiltCli(): void {
  if (!existsSync(join(packageRoot, 'dist', 'bin.js'))) {
    throw new Error('packages/cli/dist/bin.js is missing: build first (npx -y pnpm@10.34.9 exec turbo run build --filter=@lockstep/cli...)')
  }
}

/** A `lockstep` process started by a test, with its output so far. */
export interface CliProcess {
  readonly child: ChildProcess
  stdout(): string
  stderr(): string
  /** Resolves with the exit code (or 128 + signal number style: -1 when killed by a signal). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/** Every process the tests started, so afterAll can kill whatever is left even after a failure. */
const started = new Set<ChildProcess>()
/** Other pids to kill at the end (replicas started by a `cluster up` under test). */
const extraPids = new Set<number>()

/** Starts `lockstep ARGS` (binding only 127.0.0.1 is up to the arguments). */
export function startCli(args: string[]): CliProcess {
  const child = spawn(process.execPath, [cliBinPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  started.add(child)
  let out = ''
  let err = ''
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk))
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (err += chunk))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => {
      started.delete(child)
      resolve({ code, signal })
    }),
  )
  return { child, stdout: () => out, stderr: () => err, exited }
}

/** Runs `lockstep ARGS` to completion. */
export async function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const process = startCli(args)
  const { code } = await process.exited
  return { code, stdout: process.stdout(), stderr: process.stderr() }
}

/** Remembers a pid to SIGKILL in {@link killEverything}. */
export function trackPid(pid: number): void {
  extraPids.add(pid)
}

/** SIGKILLs every process still running; for afterAll. */
export function killEverything(): void {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  for (const pid of extraPids) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
  extraPids.clear()
}

/** True while a process with this pid exists. */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/**
 * Waits until `condition()` holds, polling; no timing is asserted. The guard
 * only turns a hang into a failure with a message.
 */
export async function waitFor(what: string, condition: () => boolean, guardMs = 30_000): Promise<void> {
  const deadline = performance.now() + guardMs
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`gave up waiting (${guardMs} ms guard) for: ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** A replica's stderr as JSON log lines; throws, naming the line, if one is not a JSON object. */
export function logLines(stderr: string): Record<string, unknown>[] {
  return stderr
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      try {
        const parsed = JSON.parse(line) as unknown
        if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return parsed as Record<string, unknown>
      } catch {
        // reported below
      }
      throw new Error(`not a JSON log line: ${line}`)
    })
}

/**
 * A replica's JSON log line as the text line replicas wrote before they logged JSON,
 * `r1 2026-11-25T22:10:36.123Z warn  message {"field":1}`, for tests that match text; other lines unchanged.
 */
export function plainLogLine(line: string): string {
  if (!line.startsWith('{')) return line
  const { replica, time, level, msg, pid: _pid, view: _view, position: _position, ...fields } = JSON.parse(line) as Record<string, unknown>
  const extra = Object.keys(fields).length === 0 ? '' : ` ${JSON.stringify(fields)}`
  return `${String(replica)} ${String(time)} ${String(level).padEnd(5)} ${String(msg)}${extra}`
}

/**
 * Stops local clusters (every one, even when one fails) and throws when a replica did not stop as asked: still
 * running 10 s after SIGTERM (killed), or exiting with a code other than 0. Found: a
 * replica whose event loop was blocked for minutes was killed silently at the end of large-values.test.ts.
 */
export async function stopClusters(...clusters: (LocalCluster | undefined)[]): Promise<void> {
  const results = await Promise.allSettled(clusters.map((cluster) => cluster?.stop() ?? []))
  const unclean: string[] = []
  for (const result of results) {
    if (result.status === 'rejected') unclean.push(`stop failed: ${(result.reason as Error).message}`)
    else for (const problem of result.value.map(describeUncleanStop)) if (problem !== undefined) unclean.push(problem)
  }
  if (unclean.length > 0) throw new Error(`the cluster did not stop cleanly:\n${unclean.join('\n')}`)
}

/**
 * The end of a process test file: stops its clusters (failing on an unclean stop, see {@link stopClusters}), then
 * kills whatever process it started is left and removes its directory, even when the stop failed.
 */
export async function stopEverything(clusters: readonly (LocalCluster | undefined)[], dir?: string): Promise<void> {
  try {
    await stopClusters(...clusters)
  } finally {
    killEverything()
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  }
}

/** A `lockstep cluster up` started by a test: the process, its replicas' pids (tracked for `killEverything`), its cluster file. */
export interface ClusterUp {
  readonly up: CliProcess
  readonly pids: Map<string, number>
  readonly configFile: string
  readonly config: LoadedClusterConfig
}

/** Runs `lockstep cluster up --dir DIR --base-port 0 ARGS` and waits until it reports the cluster ready. */
export async function clusterUp(clusterDir: string, args: readonly string[]): Promise<ClusterUp> {
  const up = startCli(['cluster', 'up', '--dir', clusterDir, '--base-port', '0', ...args])
  await waitFor('cluster up to be ready', () => up.stdout().includes('cluster ready') || up.child.exitCode !== null, 60_000)
  const pids = new Map<string, number>()
  for (const match of up.stdout().matchAll(/^ {2}(r\d+)\s+127\.0\.0\.1:\d+\s+pid (\d+)/gm)) {
    pids.set(match[1]!, Number(match[2]))
    trackPid(Number(match[2]))
  }
  const configFile = join(clusterDir, 'cluster.json')
  return { up, pids, configFile, config: parseClusterConfig(await readFile(configFile, 'utf8'), configFile) }
}

/** What a replica's operator endpoint reports (`/status`), the fields the process tests read. */
export interface ReplicaReport {
  status: string
  view: { id: number; members: string[] }
  configuration: string[]
  position: number
  /** The state digest and the position it is of (null unless asked for). */
  digest: { position: number; digest: string } | null
}

/** A replica's own report (`/status`; with `digest`, its state digest too), or undefined while it does not answer. */
export async function replicaReport(config: LoadedClusterConfig, id: string, digest = false): Promise<ReplicaReport | undefined> {
  const port = config.replicas.find((r) => r.id === id)!.metricsPort!
  try {
    const response = await fetch(`http://127.0.0.1:${port}/status?digest=${digest}`)
    return (await response.json()) as ReplicaReport
  } catch {
    return undefined
  }
}

/** Polls a replica's report until `check` holds for it (the guard only turns a hang into a failure). */
export async function untilReport(config: LoadedClusterConfig, id: string, what: string, check: (report: ReplicaReport) => boolean, digest = false): Promise<ReplicaReport> {
  const deadline = performance.now() + 60_000
  for (;;) {
    const report = await replicaReport(config, id, digest)
    if (report && check(report)) return report
    if (performance.now() > deadline) throw new Error(`gave up waiting for ${id}: ${what} (last report ${JSON.stringify(report)})`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** Starts replica `id`'s process (again), as a supervisor would, with its usual command line; records its pid in `pids`. */
export function startReplica(configFile: string, id: string, pids: Map<string, number>): CliProcess {
  const replica = startCli(['replica', '--config', configFile, '--id', id, '--log-level', 'warn'])
  trackPid(replica.child.pid!)
  pids.set(id, replica.child.pid!)
  return replica
}
