import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, type WriteStream } from 'node:fs'
import { readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ErrorCodes, LockstepError } from '@lockstep/interface'
import { cliBin, loadClusterConfig, processIo, retryWhileAddressInUse, TEST_CLOCK_VARIABLE, withFileSizeLimit, writeLocalClusterConfig, type LoadedClusterConfig, type ReplicaProcessEvent, type ReplicaProcessRequest, type ReplicaStatus } from '@lockstep/cli'
import { ChaosPki, type ClientCredentials } from './pki'
import { LinkProxy } from './proxy'

/** One replica process and how it is doing. */
interface Replica {
  readonly id: string
  readonly port: number
  readonly configFile: string
  child: ChildProcess | undefined
  paused: boolean
  /** Its current run said at error level that its storage failed. */
  storageFailed: boolean
  /** How its last run ended (undefined while it runs, or before it ever ran). */
  lastExit: { readonly code: number | null; readonly signal: NodeJS.Signals | null } | undefined
}

/** Options of {@link ChaosCluster.create}. */
export interface ChaosClusterOptions {
  /** Where the configuration, the secrets, the replicas' data and their log go. */
  readonly dir: string
  /** A built-in machine name or a spec file. */
  readonly machine: string
  /** Default 3. */
  readonly replicas?: number
  /** The ordering strategy (default lamport). */
  readonly order?: 'lamport' | 'realtime'
  /** Timeouts merged into the configuration. */
  readonly timeouts?: Record<string, number>
  /**
   * Mutual TLS between every node (default false: the cluster's secrets): the run makes a CA and a certificate
   * per replica with openssl (in `<dir>/pki`), and one per client as it connects ({@link ChaosCluster.clientCredentials}).
   */
  readonly tls?: boolean
}

/** The longest a started replica may take to listen (its recovery from disk included). */
const START_DEADLINE_MS = 60_000

/**
 * Replica processes (`lockstep replica`, file storage) whose links to each other all go through
 * {@link LinkProxy}s: each replica gets its own configuration file in which the other replicas' addresses
 * are the proxies of its links to them. Clients connect to the replicas directly.
 */
export class ChaosCluster {
  readonly config: LoadedClusterConfig
  readonly dir: string
  private readonly replicas: Replica[]
  /** `${from}>${to}`: the proxy of the connections `from` dials to `to`. */
  private readonly proxies: Map<string, LinkProxy>
  private readonly log: WriteStream
  private requestId = 0
  /** What replicas said when an unexpected error stopped their engine (or escaped into their transport), in order. */
  private readonly engineErrors: string[] = []
  /** Each time a replica said at error level that a peer's disk lost records it had synced, in order. */
  private readonly diskLosses: DiskLossSaid[] = []
  /** Requests over a replica's IPC channel waiting for its answer, by requestId. */
  private readonly waiters = new Map<number, (answer: ReplicaProcessEvent) => void>()

  /** The run's certificates, with TLS. */
  private readonly pki: ChaosPki | undefined

  private constructor(config: LoadedClusterConfig, dir: string, replicas: Replica[], proxies: Map<string, LinkProxy>, pki: ChaosPki | undefined) {
    this.config = config
    this.dir = dir
    this.replicas = replicas
    this.proxies = proxies
    this.pki = pki
    this.log = createWriteStream(join(dir, 'replicas.log'), { flags: 'a' })
  }

  static async create(options: ChaosClusterOptions): Promise<ChaosCluster> {
    const base = await writeLocalClusterConfig({
      dir: options.dir,
      machine: options.machine,
      replicas: options.replicas ?? 3,
      ...(options.order ? { order: options.order } : {}),
      basePort: 0,
      // No operator endpoint: nothing here reads it, and each is one more port another process could take while its
      // replica is down (found: a restart failed with EADDRINUSE on its metrics port while other tests ran).
      metrics: false,
      extra: {
        storage: { type: 'file', dir: 'data', sync: 'batch' },
        timeouts: { reconnectMaxDelayMs: 500, ...options.timeouts },
      },
    })
    let document = JSON.parse(await readFile(base.file, 'utf8')) as { replicas: { id: string; host: string; port: number }[]; security?: Record<string, unknown> }
    const pki = options.tls === true ? await ChaosPki.create(join(options.dir, 'pki'), document.replicas.map((r) => r.id)) : undefined
    if (pki !== undefined) {
      // Replicas and clients prove who they are with their certificates, not with the cluster's secrets.
      document = { ...document, security: { tls: { ca: pki.caFile } }, replicas: document.replicas.map((r) => ({ ...r, tls: pki.files(r.id) })) }
      await writeFile(base.file, `${JSON.stringify(document, null, 2)}\n`, 'utf8')
    }
    const proxies = new Map<string, LinkProxy>()
    const ports = new Map(document.replicas.map((r) => [r.id, r.port]))
    const replicas: Replica[] = []
    for (const self of document.replicas) {
      const peers = []
      for (const peer of document.replicas) {
        if (peer.id === self.id) {
          peers.push(peer)
          continue
        }
        const proxy = new LinkProxy(self.id, peer.id, () => ports.get(peer.id)!)
        proxies.set(`${self.id}>${peer.id}`, proxy)
        peers.push({ ...peer, port: await proxy.listen() })
      }
      const configFile = join(options.dir, `replica-${self.id}.json`)
      await writeFile(configFile, `${JSON.stringify({ ...document, replicas: peers }, null, 2)}\n`, 'utf8')
      replicas.push({ id: self.id, port: self.port, configFile, child: undefined, paused: false, storageFailed: false, lastExit: undefined })
    }
    return new ChaosCluster(pki === undefined ? base : await loadClusterConfig(base.file, processIo), options.dir, replicas, proxies, pki)
  }

  /** Whether the nodes use mutual TLS ({@link ChaosClusterOptions.tls}). */
  get tls(): boolean {
    return this.pki !== undefined
  }

  /** The TLS credentials of a new client `id` (a certificate made for it), or undefined without TLS. */
  async clientCredentials(id: string): Promise<ClientCredentials | undefined> {
    return this.pki?.client(id)
  }

  get ids(): string[] {
    return this.replicas.map((r) => r.id)
  }

  /**
   * Starts replica `id` (from its disk, if it has one); resolves once it listens. Its port is free while it is down,
   * and another process may hold it a moment (one testing whether a port is free, as `freePorts` does): a start
   * that fails with EADDRINUSE is tried again, for up to START_DEADLINE_MS.
   */
  start(id: string, options: { readonly fileSizeLimitBytes?: number } = {}): Promise<void> {
    return retryWhileAddressInUse(() => this.startOnce(id, options.fileSizeLimitBytes), {
      deadline: performance.now() + START_DEADLINE_MS,
      onRetry: (attempt) => this.log.write(`chaos ${new Date().toISOString()} replica ${id}: its port was in use (attempt ${attempt}); trying again\n`),
    })
  }

  private async startOnce(id: string, fileSizeLimitBytes?: number): Promise<void> {
    const replica = this.replica(id)
    if (replica.child) return
    const command = [process.execPath, cliBin(), 'replica', '--config', replica.configFile, '--id', id, '--log-level', 'info']
    // A disk that fills up: no file of the process may grow past the limit.
    const [file, ...args] = fileSizeLimitBytes === undefined ? command : withFileSizeLimit(command, fileSizeLimitBytes)
    replica.storageFailed = false
    replica.lastExit = undefined
    const child = spawn(file!, args, {
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      detached: true,
      // Its parent may set its clock off (the skew nemesis).
      env: { ...process.env, [TEST_CLOCK_VARIABLE]: 'skewable' },
    })
    replica.child = child
    replica.paused = false
    let partial = ''
    /** Its last lines, to say why it exited if it did before it listened. */
    const tail: string[] = []
    child.stderr!.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString('utf8')).split('\n')
      partial = lines.pop() ?? ''
      for (const line of lines) {
        this.log.write(`${line}\n`)
        if (line.includes('"level":"error"') && line.includes('storage failed')) replica.storageFailed = true
        const engineError = engineErrorIn(line)
        if (engineError !== undefined) this.engineErrors.push(`replica ${id}: ${engineError}`)
        const diskLoss = diskLossIn(line)
        if (diskLoss !== undefined) this.diskLosses.push({ by: id, ...diskLoss, at: performance.now() })
        tail.push(line)
        if (tail.length > 5) tail.shift()
      }
    })
    child.on('message', (message: unknown) => {
      const event = message as ReplicaProcessEvent
      if (event?.lockstep !== 'replica' || !('requestId' in event)) return
      this.waiters.get(event.requestId)?.(event)
      this.waiters.delete(event.requestId)
    })
    child.once('exit', (code, signal) => {
      if (replica.child === child) {
        replica.child = undefined
        replica.lastExit = { code, signal }
      }
      this.log.write(`chaos ${new Date().toISOString()} replica ${id} (pid ${child.pid}) exited: ${signal ?? `code ${code}`}\n`)
    })
    const lastLines = () => [...tail, partial].filter((l) => l !== '').join('\n  ')
    await new Promise<void>((resolve, reject) => {
      // A replica that neither listens nor exits would hold the run for ever: after START_DEADLINE_MS it fails.
      const timer = setTimeout(() => {
        child.off('message', onMessage)
        reject(new Error(`replica ${id} (pid ${child.pid}) did not listen within ${START_DEADLINE_MS / 1000} s of its start; its last lines:\n  ${lastLines()}\nsee ${join(this.dir, 'replicas.log')}`))
      }, START_DEADLINE_MS)
      const onMessage = (message: unknown) => {
        const event = message as ReplicaProcessEvent
        if (event?.lockstep === 'replica' && event.event === 'listening') {
          child.off('message', onMessage)
          clearTimeout(timer)
          resolve()
        }
      }
      child.on('message', onMessage)
      child.once('exit', (code, signal) => {
        clearTimeout(timer)
        // Its stderr may still hold the reason: read what is left of it before saying why.
        setImmediate(() => {
          const message = `replica ${id} exited before it listened (${signal ?? `code ${code}`}); its last lines:\n  ${lastLines()}\nsee ${join(this.dir, 'replicas.log')}`
          reject(new LockstepError(ErrorCodes.STOPPED, message, { addressInUse: lastLines().includes('EADDRINUSE') }))
        })
      })
    })
  }

  /**
   * Waits up to `ms` for replica `id`'s process to end by itself. Resolves how it ended, or undefined if it still
   * runs (or never ran).
   */
  async exitWithin(id: string, ms: number): Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null; readonly storageFailed: boolean } | undefined> {
    const replica = this.replica(id)
    const child = replica.child
    if (child) {
      // 'close': exited, and its stderr read to the end (the line saying why may come after the exit).
      const closed = new Promise<void>((resolve) => child.once('close', () => resolve()))
      await waitForExit({ closed, running: () => replica.child !== undefined, storageFailed: () => replica.storageFailed }, ms)
    }
    return replica.child === undefined && replica.lastExit !== undefined ? { ...replica.lastExit, storageFailed: replica.storageFailed } : undefined
  }

  /**
   * What the replicas said, so far, when an unexpected error stopped their engine: never part of a fault a nemesis
   * makes (the built-in machines never throw outside apply), so each is a bug the run must report.
   */
  engineFailures(): readonly string[] {
    return this.engineErrors
  }

  /**
   * What the replicas said, so far, of their peers' disks going back (`replica 'r2' reports that its disk holds the
   * order up to position 40, but it had reported that its disk held 52 …`), with when (`performance.now()`).
   */
  diskLossesSaid(): readonly DiskLossSaid[] {
    return this.diskLosses
  }

  /** Replica `id`'s current run said at error level that its storage failed. */
  storageFailed(id: string): boolean {
    return this.replica(id).storageFailed
  }

  /** Sends `signal` to replica `id`; a SIGKILL resolves once it exited. */
  async kill(id: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const replica = this.replica(id)
    const child = replica.child
    if (!child?.pid) return
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    if (replica.paused) process.kill(child.pid, 'SIGCONT')
    replica.paused = false
    process.kill(child.pid, signal)
    await exited
  }

  pause(id: string): void {
    const replica = this.replica(id)
    if (!replica.child?.pid || replica.paused) return
    process.kill(replica.child.pid, 'SIGSTOP')
    replica.paused = true
  }

  /** Sets replica `id`'s clock `offsetMs` off the machine's (0: right again); false if it is not running or refused. */
  async skew(id: string, offsetMs: number): Promise<boolean> {
    const answer = await this.ask(this.replica(id), (requestId) => ({ lockstep: 'skew', requestId, offsetMs }))
    return answer?.event === 'skewed' && answer.applied
  }

  /**
   * An operator's membership change (`remove` or `add` `replica`) through replica `via`, as `lockstep member` asks a
   * serving replica: true if `via` took it (it then needs a view change to take effect), false if it refused or did
   * not answer.
   */
  async member(via: string, action: 'remove' | 'add', replica: string): Promise<boolean> {
    const answer = await this.ask(this.replica(via), (requestId) => ({ lockstep: 'member', requestId, action, replica }))
    return answer?.event === 'member' && answer.ok
  }

  /** Sends a request over a running, unpaused replica's IPC channel; its answer, or undefined (not running, 5 s without one). */
  private ask(replica: Replica, request: (requestId: number) => ReplicaProcessRequest): Promise<ReplicaProcessEvent | undefined> {
    const child = replica.child
    if (!child?.connected || replica.paused) return Promise.resolve(undefined)
    const requestId = ++this.requestId
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(requestId)
        resolve(undefined)
      }, 5_000)
      this.waiters.set(requestId, (answer) => {
        clearTimeout(timer)
        resolve(answer)
      })
      child.send(request(requestId), (error) => {
        if (error && this.waiters.delete(requestId)) {
          clearTimeout(timer)
          resolve(undefined)
        }
      })
    })
  }

  resume(id: string): void {
    const replica = this.replica(id)
    if (!replica.child?.pid || !replica.paused) return
    process.kill(replica.child.pid, 'SIGCONT')
    replica.paused = false
  }

  isRunning(id: string): boolean {
    return this.replica(id).child !== undefined
  }

  /** The folder of replica `id`'s write-ahead log and snapshots. */
  dataDir(id: string): string {
    return join(this.config.baseDir, 'data', id)
  }

  /** Deletes replica `id`'s disk (it must be stopped). */
  async wipe(id: string): Promise<void> {
    await rm(this.dataDir(id), { recursive: true, force: true })
  }

  /** The proxy of the connections `from` dials to `to`. */
  link(from: string, to: string): LinkProxy {
    return this.proxies.get(`${from}>${to}`)!
  }

  /** Every link between `a` and `b`, whichever side dials. */
  linksBetween(a: string, b: string): LinkProxy[] {
    return [this.link(a, b), this.link(b, a)]
  }

  /** The status of every running, unpaused replica (`digest`: also the state digest). */
  async status(digest = true): Promise<ReplicaStatus[]> {
    const answers = await Promise.all(this.replicas.map((replica) => this.ask(replica, (requestId) => ({ lockstep: 'status', requestId, digest }))))
    const statuses: ReplicaStatus[] = []
    for (const answer of answers) {
      if (answer?.event !== 'status') continue
      const { lockstep: _l, event: _e, requestId: _r, ...status } = answer
      statuses.push(status)
    }
    return statuses
  }

  /** The configuration clients read (the replicas' own addresses). */
  async clientConfig(): Promise<LoadedClusterConfig> {
    return loadClusterConfig(this.config.file, processIo)
  }

  /** Stops every replica process (paused ones are resumed first) and closes every proxy. */
  async stop(): Promise<void> {
    await Promise.all(
      this.replicas.map(async (replica) => {
        const child = replica.child
        if (!child?.pid) return
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
        try {
          if (replica.paused) process.kill(child.pid, 'SIGCONT')
          process.kill(child.pid, 'SIGKILL')
        } catch {
          // already gone
        }
        await exited
      }),
    )
    await Promise.all([...this.proxies.values()].map((proxy) => proxy.close()))
    await new Promise<void>((resolve) => this.log.end(() => resolve()))
  }

  private replica(id: string): Replica {
    const replica = this.replicas.find((r) => r.id === id)
    if (!replica) throw new Error(`no replica ${id}`)
    return replica
  }
}

/** How long a replica that said its storage failed may take to end once the wait for it is over (see {@link waitForExit}). */
export const STOPPING_GRACE_MS = 5_000

/**
 * Waits up to `ms` for a replica process to end (`closed`: it exited and its output was read). One that said its
 * storage failed is stopping: if it still runs when the time is up, it gets {@link STOPPING_GRACE_MS} more, since a
 * failure said just before the end of the wait leaves it no time to exit (found: chaos seed 51002, a replica whose
 * disk filled 5.02 s into a 5 s wait said so and logged its exit 9 ms later, and was reported as one that went on
 * running). One that exited gets up to 2 s more for its last lines. Resolves once it ended or the time is up.
 */
export async function waitForExit(replica: { readonly closed: Promise<void>; readonly running: () => boolean; readonly storageFailed: () => boolean }, ms: number, graceMs = STOPPING_GRACE_MS): Promise<void> {
  const wait = (limitMs: number) => {
    let timer: NodeJS.Timeout | undefined
    return Promise.race([replica.closed, new Promise<void>((resolve) => (timer = setTimeout(resolve, limitMs)))]).finally(() => clearTimeout(timer))
  }
  await wait(ms)
  if (replica.running() && replica.storageFailed()) await wait(graceMs)
  if (!replica.running()) await wait(2_000)
}

/** A replica said at error level that the disk of `of` lost records it had synced (see {@link diskLossIn}). */
export interface DiskLossSaid {
  /** The replica that said it. */
  readonly by: string
  /** The replica whose disk went back. */
  readonly of: string
  /** How far that disk holds the order now, by its report. */
  readonly position: number
  /** How far it had reported holding it. */
  readonly held: number
  /** When it was said (`performance.now()` of the harness). */
  readonly at: number
}

/**
 * The peer and positions of a replica's log line saying that a peer's disk reports less of the order than it had
 * reported holding (`ReplicaEngine.diskLosses`, at error level), or undefined for any other line.
 */
export function diskLossIn(line: string): Omit<DiskLossSaid, 'by' | 'at'> | undefined {
  if (!line.includes('"level":"error"') || !line.includes('reports that its disk holds the order up to position')) return undefined
  const match = /replica '([^']+)' reports that its disk holds the order up to position (\d+), but it had reported that its disk held (\d+)/.exec(line)
  return match ? { of: match[1]!, position: Number(match[2]), held: Number(match[3]) } : undefined
}

/**
 * The message of a replica's log line that says an unexpected error stopped its engine (`ReplicaHost`: "replica 'r1'
 * stopped: an unexpected error while …"), or that an error escaped into its transport ("the message handler
 * threw"); undefined for any other line.
 */
export function engineErrorIn(line: string): string | undefined {
  if (!line.includes('"level":"error"') || !(line.includes('stopped: an unexpected error') || line.includes('the message handler threw'))) return undefined
  try {
    const { msg, error } = JSON.parse(line) as { msg?: unknown; error?: unknown }
    return `${String(msg)}${error === undefined ? '' : ` (${String(error)})`}`.slice(0, 600)
  } catch {
    return line.slice(0, 600)
  }
}
