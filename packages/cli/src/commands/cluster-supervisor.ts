import { connect } from 'node:net'
import type { FailureCause } from '@lockstep/core'
import type { Io } from '../io'
import type { LocalCluster } from '../local-cluster'

/** Where `cluster up` last saw a replica of its configuration. */
type ReplicaWhereabouts =
  /** Its own child process, running (`LocalCluster.running()`). */
  | 'child'
  /** Not a child, but something listens on its configured address: restarted with the printed command. */
  | 'outside'
  /** Neither: crashed or stopped. */
  | 'down'
  /** `--restart` is starting it again as a child. */
  | 'restarting'

/** A replica that answers on its address but was not started by `cluster up` (it cannot stop it). */
export interface OutsideReplica {
  readonly id: string
  readonly host: string
  readonly port: number
}

/** What the supervisor needs besides the cluster. */
export interface ClusterSupervisorOptions {
  /** `--restart`: start a crashed replica again as a child, instead of only printing how to. */
  readonly restart: boolean
  /** Where the reports go (stderr). */
  readonly io: Io
  /** The command that starts replica `id` by hand, printed in the reports. */
  readonly restartCommand: (id: string) => string
  /** How often replicas that are not children are probed on their address. Default 1000 ms. */
  readonly probeIntervalMs?: number
  /** Called when `--restart` started a replica again as a child (cluster up records its pid). */
  readonly onRestarted?: () => void
}

/**
 * Supervises a local cluster by replica id, not by child process: a replica
 * counts as running when `cluster up`'s child for it runs, or when something
 * listens on its configured address (a replica restarted by hand with the
 * printed command). Replicas that are not children are probed on their
 * address, so their return and their death are noticed too. The cluster is
 * lost only when fewer than a majority of the configured replicas run (and
 * storage is memory: with file storage the survivors wait for the others).
 */
export class ClusterSupervisor {
  /** Resolves when fewer than a majority of the replicas run and the cluster (memory storage) must stop. */
  readonly lost: Promise<void>
  private resolveLost: () => void = () => {}
  private readonly whereabouts = new Map<string, ReplicaWhereabouts>()
  /** Replicas `--restart` failed to start: not tried again, the user is told how to. */
  private readonly gaveUp = new Set<string>()
  private readonly majority: number
  /** Events are handled one at a time, in order: each decision sees the previous one's outcome. */
  private queue: Promise<void> = Promise.resolve()
  private probing = false
  private closed = false
  private unsubscribe: () => void = () => {}
  private timer: ReturnType<typeof setInterval> | undefined

  constructor(
    private readonly cluster: LocalCluster,
    private readonly options: ClusterSupervisorOptions,
  ) {
    this.lost = new Promise<void>((resolve) => (this.resolveLost = resolve))
    this.majority = Math.floor(cluster.config.replicas.length / 2) + 1
    for (const replica of cluster.config.replicas) this.whereabouts.set(replica.id, 'child')
  }

  /** Starts watching: children's exits, and every other replica's address once per probe interval. */
  start(): void {
    this.unsubscribe = this.cluster.onUnexpectedExit(({ id, pid, code, signal, failure, failureCause }) => {
      // A replica `--restart` is starting that exits before it listens: the failed restart reports it.
      if (this.whereabouts.get(id) === 'restarting') return
      const how = signal ? `signal ${signal}` : `exit code ${code}`
      // Restarting a replica whose disk is full would fail again at its first write, one whose state machine threw would
      // fail again where it threw, and each restart and exit costs the others a view change: it stays down until the
      // operator fixes the cause and starts it.
      if (failureCause !== undefined) this.gaveUp.add(id)
      const what = failure === undefined ? `replica ${id} (pid ${pid}) exited unexpectedly (${how})` : `replica ${id} (pid ${pid}) exited (${how}): ${failure}`
      this.enqueue(() => this.onDown(id, what, failureCause))
    })
    this.timer = setInterval(() => {
      if (this.probing || this.closed) return
      this.probing = true
      this.enqueue(() => this.probeOthers().finally(() => (this.probing = false)))
    }, this.options.probeIntervalMs ?? 1000)
  }

  /** Stops watching (before the cluster stops): no more reports, probes or restarts. */
  close(): void {
    this.closed = true
    this.unsubscribe()
    clearInterval(this.timer)
  }

  /** The replicas that answer on their address without being children of this cluster up, probed now. */
  async outside(): Promise<OutsideReplica[]> {
    const children = new Set(this.cluster.running().map((r) => r.id))
    const others = this.cluster.config.replicas.filter((r) => !children.has(r.id))
    const answers = await Promise.all(others.map((r) => isListening(r.host, r.port)))
    return others.filter((_, i) => answers[i]).map(({ id, host, port }) => ({ id, host, port }))
  }

  private enqueue(task: () => Promise<void>): void {
    this.queue = this.queue
      .then(() => (this.closed ? undefined : task()))
      .catch((error: unknown) => this.options.io.stderr(`lockstep cluster: supervising the replicas failed: ${(error as Error)?.message ?? String(error)}`))
  }

  /** The ids of the replicas that run now: running children, and the others that answer on their address. */
  private async runningIds(): Promise<Set<string>> {
    const children = new Set(this.cluster.running().map((r) => r.id))
    const others = this.cluster.config.replicas.filter((r) => !children.has(r.id))
    const answers = await Promise.all(others.map((r) => isListening(r.host, r.port)))
    others.forEach((r, i) => answers[i] && children.add(r.id))
    return children
  }

  /** Notices replicas that came back outside cluster up, and those outside it that stopped answering. */
  private async probeOthers(): Promise<void> {
    for (const replica of this.cluster.config.replicas) {
      const where = this.whereabouts.get(replica.id)
      if (where !== 'down' && where !== 'outside') continue
      const listening = await isListening(replica.host, replica.port)
      if (this.closed) return
      if (where === 'down' && listening) {
        this.whereabouts.set(replica.id, 'outside')
        this.gaveUp.delete(replica.id)
        this.options.io.stderr(`lockstep cluster: replica ${replica.id} answers again at ${replica.host}:${replica.port} (not started by this cluster up); it counts among the running replicas`)
      } else if (where === 'outside' && !listening) {
        await this.onDown(replica.id, `replica ${replica.id} at ${replica.host}:${replica.port} (not started by this cluster up) no longer answers`)
      }
    }
  }

  /** Replica `id` is gone: says so, and decides whether the others go on, whether to restart it, or to stop. */
  private async onDown(id: string, what: string, failed?: FailureCause): Promise<void> {
    this.whereabouts.set(id, 'down')
    const running = await this.runningIds()
    if (this.closed) return
    const total = this.cluster.config.replicas.length
    const others = [...running].filter((other) => other !== id).length
    const durable = this.cluster.config.storage.type === 'file'
    if (running.size < this.majority && !durable) {
      this.options.io.stderr(`lockstep cluster: ${what}; only ${running.size} of ${total} replicas run, fewer than a majority (${this.majority}), so the cluster cannot order requests: stopping`)
      this.resolveLost()
      return
    }
    const restarting = this.options.restart && !this.gaveUp.has(id)
    this.options.io.stderr(
      `lockstep cluster: ${what}; ` +
        (running.size >= this.majority
          ? `the ${others} others go on without it once a majority agrees it failed (view change).\n`
          : `only ${running.size} of ${total} replicas run, fewer than a majority (${this.majority}): the cluster waits, its state safe on the disks, until enough are back.\n`) +
        (restarting
          ? `  cluster up restarts it (--restart); it rejoins by state transfer.`
          : failed
            ? `  cluster up does not restart it${this.options.restart ? ' (--restart)' : ''}: it would fail again. Once the cause is fixed (${failed === 'storage' ? 'a full disk?' : "a state machine's method that throws?"}), start it with: ${this.options.restartCommand(id)}`
            : `  To bring it back (it rejoins by state transfer): ${this.options.restartCommand(id)}`),
    )
    if (restarting) await this.restart(id)
  }

  /** `--restart`: starts replica `id` again as a child, unless something already answers on its address. */
  private async restart(id: string): Promise<void> {
    const replica = this.cluster.config.replicas.find((r) => r.id === id)!
    if (await isListening(replica.host, replica.port)) {
      // Restarted by hand meanwhile: a second process could not listen there anyway.
      this.whereabouts.set(id, 'outside')
      this.options.io.stderr(`lockstep cluster: replica ${id} answers again at ${replica.host}:${replica.port} (not started by this cluster up); it counts among the running replicas`)
      return
    }
    if (this.closed) return
    this.whereabouts.set(id, 'restarting')
    try {
      const restarted = await this.cluster.restart(id)
      this.whereabouts.set(id, 'child')
      this.options.onRestarted?.()
      if (!this.closed) this.options.io.stderr(`lockstep cluster: replica ${id} restarted by cluster up (pid ${restarted.pid}); it rejoins by state transfer`)
    } catch (error) {
      this.whereabouts.set(id, 'down')
      if (this.closed) return
      // Not tried again: a replica that cannot start would otherwise be restarted forever.
      this.gaveUp.add(id)
      this.options.io.stderr(
        `lockstep cluster: replica ${id} could not be restarted (${(error as { code?: string }).code ?? 'ERROR'}): ${(error as Error).message}\n` +
          `  cluster up does not try again; once the cause is fixed, start it with: ${this.options.restartCommand(id)}`,
      )
    }
  }
}

/**
 * True when something accepts a TCP connection on `host:port`. The connection is closed at once, before any
 * handshake: a replica logs that at debug level only. On a local cluster's 127.0.0.1 ports that is its replica.
 */
export function isListening(host: string, port: number, guardMs = 2000): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const socket = connect({ host, port })
    const answer = (listening: boolean) => {
      socket.destroy()
      resolve(listening)
    }
    socket.setTimeout(guardMs, () => answer(false))
    socket.once('connect', () => answer(true))
    socket.once('error', () => answer(false))
  })
}
