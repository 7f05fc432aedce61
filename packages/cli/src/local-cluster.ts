import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes, randomInt } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, isAbsolute, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { LockstepClient } from '@lockstep/client'
import type { FailureCause } from '@lockstep/core'
import { ErrorCodes, isLockstepError, LockstepError } from '@lockstep/interface'
import { isBuiltInMachineName } from '@lockstep/machines'
import { generateReplicaKeys } from '@lockstep/voting'
import { clusterClient, type ClusterClient, type ClusterClientOptions } from './cluster-client'
import { parseClusterConfig, type LoadedClusterConfig, type VoterName } from './cluster-config'
import { isReplicaProcessEvent, type ReplicaProcessRequest, type ReplicaStatus } from './replica-ipc'
import type { LogLevel } from './stderr-logger'

/** What `cluster up`, programs and tests ask for. */
export interface LocalClusterSpec {
  /**
   * Directory for cluster.json and the secrets (created if missing). Default:
   * a fresh temporary directory, which `stop()` removes.
   */
  readonly dir?: string
  /** Default 3. */
  readonly replicas?: number
  /** Default 'lamport'. */
  readonly order?: 'lamport' | 'realtime'
  /** How the cluster's clients vote on the replicas' answers (`voter` in cluster.json). Default 'first'. */
  readonly voter?: VoterName
  /** A built-in machine name or a path (resolved against the current directory). Default 'kv'. */
  readonly machine?: string
  /** First replica's port; the others follow. 0 picks free ports. Default 7400. */
  readonly basePort?: number
  /** Log level of the replica processes. Default 'warn'. */
  readonly logLevel?: LogLevel
  /** Each line a replica writes to stderr. Default: discarded. */
  readonly onLog?: (line: string) => void
  /** Give up when the replicas are not all listening after this long. Default 30 s. */
  readonly readyTimeoutMs?: number
  /** How long `stop()` waits for a replica to exit after SIGTERM before SIGKILL. Default {@link REPLICA_STOP_GRACE_MS} (10 s). */
  readonly stopGraceMs?: number
  /** Extra configuration fields (timeouts, clusterId) merged into the generated file. */
  readonly extra?: Record<string, unknown>
  /** Give every replica a free `metricsPort` (its HTTP endpoint for operators: /metrics, /health, /status). Default true. */
  readonly metrics?: boolean
  /**
   * Where the replicas keep their state: 'memory' (a restarted replica comes back empty and rejoins by state
   * transfer) or 'file' (each replica's write-ahead log and snapshots in `<dir>/data/<id>`, synced per batch;
   * a restarted replica recovers its disk). A `storage` in `extra` overrides it. Default 'memory'.
   */
  readonly storage?: 'memory' | 'file'
}

/** A replica process that ended. */
export interface ReplicaExit {
  readonly id: string
  readonly pid: number
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  /**
   * Why it stopped by itself, when it said (its storage failed, or an unexpected error escaped its engine): restarting
   * it before the cause is fixed fails again.
   */
  readonly failure?: string
  /** What failed, with `failure`: its storage, or its engine (a state machine's method that threw outside apply, a bug). */
  readonly failureCause?: FailureCause
}

/** How a replica process that `stop()` sent SIGTERM to ended. */
export interface ReplicaStopped extends ReplicaExit {
  /**
   * True when it had not exited `graceMs` after SIGTERM and was killed with SIGKILL: a replica that does not
   * stop when asked is a fault (its event loop was blocked, or its shutdown hung).
   */
  readonly killed: boolean
  /** How long it was given to exit after SIGTERM (`stopGraceMs`, default {@link REPLICA_STOP_GRACE_MS}). */
  readonly graceMs: number
}

/** How long `stop()` waits for a replica to exit after SIGTERM before it kills it with SIGKILL. */
export const REPLICA_STOP_GRACE_MS = 10_000

/** Whether a replica stopped as asked: it exited by itself with code 0 after SIGTERM. */
export function stoppedCleanly(stopped: ReplicaStopped): boolean {
  return !stopped.killed && stopped.code === 0
}

/** One line on a replica that did not stop cleanly, for an operator; `undefined` for one that did. */
export function describeUncleanStop(stopped: ReplicaStopped): string | undefined {
  if (stoppedCleanly(stopped)) return undefined
  if (stopped.killed) return `replica ${stopped.id} (pid ${stopped.pid}) had not exited ${stopped.graceMs / 1000} s after SIGTERM and was killed with SIGKILL (its event loop was blocked or its shutdown hung; with file storage it recovers its disk as after a crash)`
  return `replica ${stopped.id} (pid ${stopped.pid}) did not stop cleanly after SIGTERM: ${stopped.signal ? `signal ${stopped.signal}` : `exit code ${stopped.code}`} (its log says why)`
}

/** One replica process. */
export interface LocalReplica {
  readonly id: string
  readonly host: string
  readonly port: number
  readonly pid: number
  /** Port of its HTTP endpoint for operators on `host`, when it has one. */
  readonly metricsPort?: number
  readonly process: ChildProcess
}

/** Options of {@link LocalCluster.client}: those of {@link clusterClient} but the id. */
export type LocalClientOptions = Omit<ClusterClientOptions, 'id' | 'io'>

/** A running local cluster. */
export interface LocalCluster {
  /** The cluster.json every replica and client reads (absolute). */
  readonly configFile: string
  readonly config: LoadedClusterConfig
  readonly replicas: readonly LocalReplica[]
  /**
   * A started client of this cluster over TCP, authenticated with its client
   * secret; `options.preferred` names the replica it tries first. `stop()`
   * stops it.
   */
  client(id: string, options?: LocalClientOptions): Promise<ClusterClient>
  /**
   * Asks every running replica, over its IPC channel, for its position, state
   * digest (unless `digest: false`: it reads the whole state), view and status.
   * A replica that exits before it answers is left out.
   */
  status(options?: { readonly digest?: boolean }): Promise<ReplicaStatus[]>
  /** Calls `listener` for every replica that exits while the cluster is not stopping (also for earlier ones). Returns an unsubscribe function. */
  onUnexpectedExit(listener: (exit: ReplicaExit) => void): () => void
  /** Replicas whose process is still running. */
  running(): LocalReplica[]
  /**
   * Kills replica `id` with SIGKILL, as a crash would (no clean shutdown, nothing flushed beyond what its
   * storage already synced); resolves with its exit once the process is gone. Like any exit while the cluster
   * is not stopping, it is reported to `onUnexpectedExit` listeners. `restart(id)` brings it back. A replica
   * that is not running is left alone (resolves with its earlier exit). Throws INVALID_ARGUMENT for an id that
   * is not a replica of this cluster, STOPPED once the cluster is stopping.
   */
  kill(id: string): Promise<ReplicaExit>
  /**
   * Starts replica `id` again, with the command that started it (after SIGKILL if it still runs); resolves
   * once it listens. With memory storage it comes back without state and rejoins by state transfer; with
   * file storage it recovers its disk. Its ports were free while it was down: when it exits because one is in use
   * (EADDRINUSE: another process holds it a moment, such as one checking whether it is free), it is started
   * again, until it listens or `readyTimeoutMs` has passed.
   */
  restart(id: string): Promise<LocalReplica>
  /**
   * Stops every client made by `client()`, then sends SIGTERM to every
   * replica and waits until all exited (SIGKILL after `stopGraceMs`,
   * default {@link REPLICA_STOP_GRACE_MS}). Resolves with how each replica that was
   * still running ended (`killed` when it needed SIGKILL; see
   * {@link stoppedCleanly}). Idempotent: later calls resolve with the same.
   */
  stop(): Promise<readonly ReplicaStopped[]>
}

/**
 * Writes a local cluster's configuration into `spec.dir`: fresh random
 * replica and client secrets (files with mode 600), replicas r1..rN on
 * 127.0.0.1, and cluster.json referring to them.
 */
export async function writeLocalClusterConfig(spec: LocalClusterSpec & { readonly dir: string }): Promise<LoadedClusterConfig> {
  const count = spec.replicas ?? 3
  const dir = resolve(spec.dir)
  await mkdir(dir, { recursive: true })
  const basePort = spec.basePort ?? 7400
  const ports = basePort === 0 ? await freePorts(count) : Array.from({ length: count }, (_, i) => basePort + i)
  const metricsPorts = spec.metrics === false ? [] : (await freePorts(count, ports))
  let machine = spec.machine ?? 'kv'
  if (!isBuiltInMachineName(machine) && !isAbsolute(machine)) machine = resolve(machine)
  await writeSecret(join(dir, 'replica.secret'))
  await writeSecret(join(dir, 'client.secret'))
  // One Ed25519 key pair per replica: the public key in cluster.json (readers verify with it), the private key
  // in a file of its own (mode 600) that only that replica reads.
  const replicas = []
  for (const [i, port] of ports.entries()) {
    const id = `r${i + 1}`
    const keys = generateReplicaKeys()
    await writeSecretText(join(dir, `${id}.signing-key`), `${keys.privateKey}\n`)
    replicas.push({ id, host: '127.0.0.1', port, ...(metricsPorts[i] === undefined ? {} : { metricsPort: metricsPorts[i] }), publicKey: keys.publicKey, signingKey: `${id}.signing-key` })
  }
  const document = {
    clusterId: `local-${randomBytes(4).toString('hex')}`,
    replicas,
    order: spec.order ?? 'lamport',
    ...(spec.voter === undefined || spec.voter === 'first' ? {} : { voter: spec.voter }),
    machine,
    storage: spec.storage === 'file' ? { type: 'file', dir: 'data', sync: 'batch' } : { type: 'memory' },
    security: { replicaSecret: { file: 'replica.secret' }, clientSecret: { file: 'client.secret' } },
    timeouts: { reconnectMaxDelayMs: 1000 },
    // Every client and peer connects from 127.0.0.1, so the per-address limit must cover them all.
    limits: { maxConnectionsPerAddress: 4096 },
    ...spec.extra,
  }
  const file = join(dir, 'cluster.json')
  const text = `${JSON.stringify(document, null, 2)}\n`
  const config = parseClusterConfig(text, file)
  await writeFile(file, text, 'utf8')
  return config
}

/**
 * Starts one `lockstep replica` child process per configured replica (this
 * CLI's bin under the running Node) and resolves once every one listens.
 * Children run in their own process group, so a terminal's Ctrl-C reaches
 * only this process, which then stops them in order; a child whose parent
 * goes away (its IPC channel closes) stops itself.
 */
export async function startLocalCluster(config: LoadedClusterConfig, options: Pick<LocalClusterSpec, 'logLevel' | 'onLog' | 'readyTimeoutMs' | 'stopGraceMs'> = {}): Promise<LocalCluster> {
  const graceMs = options.stopGraceMs ?? REPLICA_STOP_GRACE_MS
  if (!Number.isFinite(graceMs) || graceMs < 0) throw new LockstepError(ErrorCodes.INVALID_CONFIG, `stopGraceMs must be a number of milliseconds, 0 or more (got ${graceMs})`)
  const bin = cliBin()
  let stopping: Promise<readonly ReplicaStopped[]> | undefined
  const exits: ReplicaExit[] = []
  const exitListeners = new Set<(exit: ReplicaExit) => void>()
  const reportExit = (exit: ReplicaExit) => {
    exits.push(exit)
    for (const listener of exitListeners) listener(exit)
  }
  const started: { id: string; child: ChildProcess; exited: Promise<void>; stderrTail: string[] }[] = []
  const clients: LockstepClient[] = []
  const statusRequests = new Map<number, { id: string; answer: (status: ReplicaStatus | undefined) => void }>()
  let lastRequestId = 0
  // One stop, however often it is asked for: a second SIGTERM would make a stopping replica exit at once.
  const stop = () =>
    (stopping ??= (async () => {
      await Promise.allSettled(clients.map((client) => client.stop()))
      const stopped = await Promise.all(started.map(({ id, child, exited }) => stopChild(id, child, exited, graceMs)))
      return stopped.filter((s): s is ReplicaStopped => s !== undefined)
    })())
  /** Starts replica `replica.id` as a child process; resolves once it listens. */
  const startReplica = (replica: LoadedClusterConfig['replicas'][number]): Promise<LocalReplica> => {
    const child = spawn(process.execPath, [bin, 'replica', '--config', config.file, '--id', replica.id, '--log-level', options.logLevel ?? 'warn'], {
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      detached: true,
    })
    const stderrTail: string[] = []
    const exited = new Promise<void>((resolveExited) => child.once('exit', () => resolveExited()))
    started.push({ id: replica.id, child, exited, stderrTail })
    forwardLines(child, (line) => {
      stderrTail.push(line)
      if (stderrTail.length > 20) stderrTail.shift()
      options.onLog?.(line)
    })
    /** Why it stopped by itself, when it said so over its IPC channel before exiting (its storage or its engine failed). */
    let failure: { reason: string; cause: FailureCause } | undefined
    child.once('exit', (code, signal) => {
      // A replica that exits answers no more status requests.
      for (const [requestId, request] of statusRequests) {
        if (request.id !== replica.id) continue
        statusRequests.delete(requestId)
        request.answer(undefined)
      }
      if (stopping === undefined) reportExit({ id: replica.id, pid: child.pid ?? 0, code, signal, ...(failure === undefined ? {} : { failure: failure.reason, failureCause: failure.cause }) })
    })
    child.on('message', (message: unknown) => {
      if (isReplicaProcessEvent(message) && message.event === 'failed') failure = { reason: message.reason, cause: message.cause ?? 'storage' }
      if (isReplicaProcessEvent(message) && message.event === 'status') {
        const { lockstep: _lockstep, event: _event, requestId, ...status } = message
        statusRequests.get(requestId)?.answer(status)
        statusRequests.delete(requestId)
      }
    })
    return new Promise<LocalReplica>((resolveReady, rejectReady) => {
      child.on('message', (message: unknown) => {
        if (isReplicaProcessEvent(message) && message.event === 'listening') {
          resolveReady({ id: replica.id, host: message.host, port: message.port, pid: message.pid, ...(message.metricsPort === undefined ? {} : { metricsPort: message.metricsPort }), process: child })
        }
      })
      child.once('error', (error) => rejectReady(new LockstepError(ErrorCodes.INTERNAL, `replica ${replica.id}: cannot start ${process.execPath} ${bin}: ${error.message}`)))
      child.once('exit', (code, signal) => {
        // Give the stderr pipe a moment to drain so the reason is in the tail.
        setImmediate(() =>
          rejectReady(new LockstepError(
            ErrorCodes.STOPPED,
            `replica ${replica.id} exited before it was listening (${signal ? `signal ${signal}` : `exit code ${code}`}):\n${stderrTail.map((l) => `    ${l}`).join('\n') || '    (no output)'}`,
            { replica: replica.id, addressInUse: stderrTail.some((l) => l.includes('EADDRINUSE')) },
          )),
        )
      })
    })
  }
  try {
    const ready = config.replicas.map((replica) => startReplica(replica))
    const replicas = await withGuard(Promise.all(ready), options.readyTimeoutMs ?? 30_000, `the replicas of ${config.file} were not all listening after ${options.readyTimeoutMs ?? 30_000} ms`)
    const running = () => replicas.filter((r) => r.process.exitCode === null && r.process.signalCode === null)
    return {
      configFile: config.file,
      config,
      get replicas() {
        return replicas
      },
      stop,
      running,
      async kill(id) {
        const replica = replicas.find((r) => r.id === id)
        if (replica === undefined) throw new LockstepError(ErrorCodes.INVALID_ARGUMENT, `cannot kill replica '${id}': it is not a replica of ${config.file} (replicas: ${replicas.map((r) => r.id).join(', ')})`)
        if (stopping !== undefined) throw new LockstepError(ErrorCodes.STOPPED, `cannot kill replica ${id}: the cluster of ${config.file} is stopping`)
        const child = replica.process
        const exit = () => ({ id, pid: replica.pid, code: child.exitCode, signal: child.signalCode })
        if (child.exitCode !== null || child.signalCode !== null) return exit()
        const gone = new Promise<void>((resolveGone) => child.once('exit', () => resolveGone()))
        child.kill('SIGKILL')
        await gone
        return exit()
      },
      async restart(id) {
        const index = replicas.findIndex((r) => r.id === id)
        const replica = config.replicas.find((r) => r.id === id)
        if (index < 0 || !replica) throw new LockstepError(ErrorCodes.INVALID_CONFIG, `replica ${id} is not a replica of ${config.file}`)
        if (stopping !== undefined) throw new LockstepError(ErrorCodes.STOPPED, `the cluster of ${config.file} is stopping: no restarts`)
        const current = replicas[index]!
        if (current.process.exitCode === null && current.process.signalCode === null) {
          const gone = new Promise<void>((resolveGone) => current.process.once('exit', () => resolveGone()))
          current.process.kill('SIGKILL')
          await gone
        }
        const readyMs = options.readyTimeoutMs ?? 30_000
        const deadline = performance.now() + readyMs
        // Its own lines (onLog) say which port was in use.
        const restarted = await retryWhileAddressInUse(() => withGuard(startReplica(replica), Math.max(1, deadline - performance.now()), `replica ${id} was not listening after ${readyMs} ms`), {
          deadline,
          keepTrying: () => stopping === undefined,
        })
        replicas[index] = restarted
        return restarted
      },
      async client(id, clientOptions = {}) {
        if (stopping !== undefined) throw new LockstepError(ErrorCodes.STOPPED, `the cluster of ${config.file} is stopping: no new clients`)
        const client = await clusterClient(config, { ...clientOptions, id })
        clients.push(client)
        await client.start()
        return client
      },
      async status(statusOptions = {}) {
        const answers = await Promise.all(
          running().map(
            (replica) =>
              new Promise<ReplicaStatus | undefined>((answer) => {
                if (!replica.process.connected) return answer(undefined)
                const requestId = ++lastRequestId
                statusRequests.set(requestId, { id: replica.id, answer })
                replica.process.send({ lockstep: 'status', requestId, digest: statusOptions.digest ?? true } satisfies ReplicaProcessRequest, (error) => {
                  if (error && statusRequests.delete(requestId)) answer(undefined)
                })
              }),
          ),
        )
        return answers.filter((status) => status !== undefined)
      },
      onUnexpectedExit(listener) {
        for (const exit of exits) listener(exit)
        exitListeners.add(listener)
        return () => exitListeners.delete(listener)
      },
    }
  } catch (error) {
    await stop()
    throw error
  }
}

/**
 * Writes a configuration and starts its replicas: a local cluster in one call.
 * Without `spec.dir`, the configuration and secrets go to a fresh temporary
 * directory that `stop()` removes. When ports were picked automatically
 * (basePort 0) and one was taken meanwhile, it tries again with new ports
 * (up to three times).
 */
export async function upLocalCluster(spec: LocalClusterSpec): Promise<LocalCluster> {
  const temporaryDir = spec.dir === undefined ? await mkdtemp(join(tmpdir(), 'lockstep-cluster-')) : undefined
  const removeTemporaryDir = () => (temporaryDir === undefined ? Promise.resolve() : rm(temporaryDir, { recursive: true, force: true }))
  for (let attempt = 1; ; attempt++) {
    const config = await writeLocalClusterConfig({ ...spec, dir: spec.dir ?? temporaryDir! })
    let cluster: LocalCluster
    try {
      cluster = await startLocalCluster(config, spec)
    } catch (error) {
      if (isAddressInUse(error) && spec.basePort === 0 && attempt < 3) continue
      await removeTemporaryDir()
      throw error
    }
    if (temporaryDir === undefined) return cluster
    let stopped: Promise<readonly ReplicaStopped[]> | undefined
    return { ...cluster, stop: () => (stopped ??= cluster.stop().then(async (replicas) => (await removeTemporaryDir(), replicas))) }
  }
}

/** True for the error of a replica that exited before it listened because a port of its was in use (EADDRINUSE). */
export function isAddressInUse(error: unknown): boolean {
  return isLockstepError(error) && error.details?.addressInUse === true
}

/**
 * Runs `start` (a replica's start) again while it fails with {@link isAddressInUse}: a port freed while the replica
 * was down may be held a moment by another process (one checking whether it is free, as {@link freePorts} does).
 * Waits 100 ms × the attempt (at most 1 s) between tries; gives up, with the last error, at `deadline`
 * (`performance.now()` time) or when `keepTrying` says no.
 */
export async function retryWhileAddressInUse<T>(start: () => Promise<T>, options: { readonly deadline: number; readonly keepTrying?: () => boolean; readonly onRetry?: (attempt: number) => void }): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start()
    } catch (error) {
      if (!isAddressInUse(error) || options.keepTrying?.() === false || performance.now() >= options.deadline) throw error
      options.onRetry?.(attempt)
      await new Promise((resolveLater) => setTimeout(resolveLater, Math.min(1000, 100 * attempt)))
    }
  }
}

/**
 * Where free ports are looked for: below Linux's default range of ephemeral ports (32768–60999), from which
 * outgoing connections take their local port. A replica restarted on its port while it was down must find it
 * free, and a connection that took it as its local port in the meantime would hold it (EADDRINUSE).
 */
const FREE_PORT_RANGE = { from: 20000, to: 32767 } as const

/** Ports that were free a moment ago on 127.0.0.1, all different, outside the ephemeral range (see `FREE_PORT_RANGE`). */
export async function freePorts(count: number, taken: readonly number[] = []): Promise<number[]> {
  const ports: number[] = []
  for (let attempt = 0; ports.length < count; attempt++) {
    if (attempt >= 1000) throw new LockstepError(ErrorCodes.INTERNAL, `found only ${ports.length} of ${count} free ports in ${FREE_PORT_RANGE.from}–${FREE_PORT_RANGE.to} on 127.0.0.1`)
    const port = randomInt(FREE_PORT_RANGE.from, FREE_PORT_RANGE.to + 1)
    if (ports.includes(port) || taken.includes(port)) continue
    if (await canListen(port)) ports.push(port)
  }
  return ports
}

/** True if a server could listen on `port` of 127.0.0.1 just now. */
function canListen(port: number): Promise<boolean> {
  return new Promise((resolveListen) => {
    const server = createServer()
    server.once('error', () => resolveListen(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolveListen(true)))
  })
}

/** The path of this package's `lockstep` launcher (which runs dist/bin.js). */
export function cliBin(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    const manifest = join(dir, 'package.json')
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === '@lockstep/cli') break
    const parent = dirname(dir)
    if (parent === dir) throw new LockstepError(ErrorCodes.INTERNAL, `cannot find the @lockstep/cli package above ${fileURLToPath(import.meta.url)}`)
    dir = parent
  }
  if (!existsSync(join(dir, 'dist', 'bin.js'))) {
    throw new LockstepError(ErrorCodes.INVALID_CONFIG, `@lockstep/cli is not built (${join(dir, 'dist', 'bin.js')} is missing); run \`npx -y pnpm@10.34.9 exec turbo run build --filter=@lockstep/cli...\` from the repository root`)
  }
  return join(dir, 'bin', 'lockstep.js')
}

async function writeSecret(path: string): Promise<void> {
  await writeSecretText(path, `${randomBytes(32).toString('hex')}\n`)
}

async function writeSecretText(path: string, text: string): Promise<void> {
  await writeFile(path, text, { encoding: 'utf8', mode: 0o600 })
  await chmod(path, 0o600) // an existing file keeps its mode on overwrite
}

function forwardLines(child: ChildProcess, onLine: (line: string) => void): void {
  let buffered = ''
  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', (chunk: string) => {
    buffered += chunk
    let newline = buffered.indexOf('\n')
    while (newline >= 0) {
      onLine(buffered.slice(0, newline))
      buffered = buffered.slice(newline + 1)
      newline = buffered.indexOf('\n')
    }
  })
  child.stderr?.on('end', () => {
    if (buffered.length > 0) onLine(buffered)
    buffered = ''
  })
}

/** SIGTERM, then SIGKILL after the grace; `undefined` for a child that had already exited. */
async function stopChild(id: string, child: ChildProcess, exited: Promise<void>, graceMs: number): Promise<ReplicaStopped | undefined> {
  if (child.exitCode !== null || child.signalCode !== null) return undefined
  child.kill('SIGTERM')
  let killed = false
  let timer: ReturnType<typeof setTimeout> | undefined
  const grace = new Promise<void>((resolveGrace) => {
    timer = setTimeout(() => {
      killed = true
      child.kill('SIGKILL')
      resolveGrace()
    }, graceMs)
  })
  await Promise.race([exited, grace])
  clearTimeout(timer)
  await exited
  return { id, pid: child.pid ?? 0, code: child.exitCode, signal: child.signalCode, killed, graceMs }
}

function withGuard<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new LockstepError(ErrorCodes.TIMEOUT, message)), ms)
  })
  return Promise.race([promise, guard]).finally(() => clearTimeout(timer))
}
