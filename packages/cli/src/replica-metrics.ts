import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { ReplicaHost, TransferRefusal } from '@lockstep/core'
import type { JsonValue, Request, Storage, StorageFactory } from '@lockstep/interface'
import type { RevocationList, TcpTransportStats } from '@lockstep/transport-tcp'

/** What `/status` answers about a replica (and `lockstep status --json` prints per replica). */
export interface ReplicaStatusReport {
  readonly id: string
  readonly pid: number
  /** Where it stands: 'normal' (serving in a view), 'frozen', 'transferring', 'joining' or 'recovering'. */
  readonly status: string
  readonly view: { readonly id: number; readonly members: readonly string[] }
  /**
   * The configured replicas (a majority of them is the quorum) of the view `configurationView`: `view`'s, except
   * while the replica joins a newer view whose configuration it has not learned (it was told only that it is not a
   * member).
   */
  readonly configuration: readonly string[]
  /** The view whose configuration `configuration` is: `view.id` but in the case above. */
  readonly configurationView: number
  /** Requests delivered so far. */
  readonly position: number
  /** How it extends its order digest (`OrderDigestVersion` of @lockstep/core): the version of the history it holds. */
  readonly orderDigestVersion: number
  /** Requests held here and not delivered yet, and the age of the oldest this replica received from a client. */
  readonly stabilityLag: { readonly pendingRequests: number; readonly oldestPendingMs: number | null }
  readonly queues: { readonly orderer: number; readonly heldForTransfer: number; readonly repliesWaiting: number }
  readonly peersConnected: readonly string[]
  readonly clientConnections: number
  /** Client requests received per second, over the last ten seconds. */
  readonly requestsPerSecond: number
  readonly sessions: number
  /** Members it suspects now. */
  readonly suspected: readonly string[]
  /** The state digest and the position it is of (null when not asked for: `/status?digest=false`). */
  readonly digest: { readonly position: number; readonly digest: string } | null
  /** The real-time orderer's estimates of each peer's clock minus this one's (null with another orderer). */
  readonly clockOffsets: Readonly<Record<string, { readonly offsetMs: number; readonly roundTripMs: number }>> | null
  /**
   * The machine's summary of its state at `position` (`StateMachine.summary`: the mutex's holder and queue);
   * absent when the machine has none or the configuration says `"statusSummary": false`.
   */
  readonly summary?: JsonValue
  /** Why there is no summary although the machine has one: its `summary` threw, or gave more than 16 KiB of JSON. */
  readonly summaryError?: string
  /**
   * Present while the replica, transferring, takes no state because its sources hold different states and none is
   * held by a majority of the view: the view, the position, and which sources said which digest.
   */
  readonly transferRefused?: TransferRefusal
}

/** The most characters of JSON of a machine's summary that `/status` reports (StateMachine.summary should stay near 4 KB). */
export const MAX_SUMMARY_JSON_CHARS = 16_384

/** How often the sampler looks at suspicions and the request rate. */
const SAMPLE_EVERY_MS = 250
/** The window of the request rate. */
const RATE_WINDOW_MS = 10_000
/** Requests whose age is tracked at most (a flood of requests never delivered must not grow memory without bound). */
const MAX_TRACKED_REQUESTS = 100_000

/**
 * A replica process's metrics (a prom-client registry of its own, every name prefixed `lockstep_`, every
 * series labelled with the replica id) and the figures of its `/status`. The replica runner feeds it what
 * happens (requests received, deliveries, views installed, disk syncs); the rest is read from the engine and
 * the transport when scraped.
 */
export class ReplicaMetrics {
  readonly registry = new Registry()
  private host: ReplicaHost | undefined
  private transportStats: () => TcpTransportStats | undefined = () => undefined
  private readonly requests: Counter
  private readonly deliveries: Counter
  private readonly viewChanges: Counter
  private readonly suspicions: Counter
  private readonly fsyncSeconds: Histogram
  /** Requests received from clients and not delivered or answered yet: `client\0seq` to the time received. */
  private readonly waiting = new Map<string, number>()
  private requestCount = 0
  /** Request counts sampled over the rate window, oldest first. */
  private samples: { readonly atMs: number; readonly count: number }[] = []
  private suspectedBefore = new Set<string>()
  private timer: ReturnType<typeof setInterval> | undefined

  /** The next updates of the revocation lists (see `revocationLists`), made at the first call. */
  private revocationGauge: Gauge | undefined

  /**
   * `statusSummary` false: `/status` leaves out the machine's summary of its state (the configuration's
   * `statusSummary`).
   */
  constructor(
    readonly id: string,
    private readonly nowMs: () => number = () => performance.now(),
    private readonly options: { readonly statusSummary?: boolean } = {},
  ) {
    const registry = this.registry
    registry.setDefaultLabels({ replica: id })
    collectDefaultMetrics({ register: registry, prefix: 'lockstep_' })
    const self = () => this.host?.engine
    this.requests = new Counter({ name: 'lockstep_requests_total', help: 'Client requests received by this replica.', registers: [registry] })
    this.deliveries = new Counter({ name: 'lockstep_deliveries_total', help: 'Requests delivered (executed or found duplicate) in the total order here.', registers: [registry] })
    this.viewChanges = new Counter({ name: 'lockstep_view_changes_total', help: 'Views installed here after the first.', registers: [registry] })
    this.suspicions = new Counter({ name: 'lockstep_suspicions_total', help: 'Times this replica began to suspect a member (silent too long, or its link full).', registers: [registry] })
    this.fsyncSeconds = new Histogram({
      name: 'lockstep_wal_fsync_seconds',
      help: 'Duration of the write-ahead log syncs (one per burst of deliveries; file storage only).',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    })
    const gauge = (name: string, help: string, read: () => number | undefined) =>
      new Gauge({
        name,
        help,
        registers: [registry],
        collect() {
          const value = read()
          if (value !== undefined) this.set(value)
        },
      })
    gauge('lockstep_view', 'Id of the current view.', () => self()?.view.id)
    gauge('lockstep_view_members', 'Members of the current view.', () => self()?.view.members.length)
    gauge('lockstep_position', 'Requests delivered so far (the position of the last one in the total order).', () => self()?.position)
    gauge('lockstep_serving', '1 while the replica serves in a view (status normal), 0 otherwise.', () => (self() === undefined ? undefined : self()!.status === 'normal' ? 1 : 0))
    gauge('lockstep_stability_lag_requests', 'Requests held here that are not delivered yet (waiting to be stable, or held for a state transfer).', () => self()?.pending)
    gauge('lockstep_stability_lag_seconds', 'Age of the oldest request this replica received from a client and has not delivered or answered (0 when none).', () => (this.oldestPendingMs() ?? 0) / 1000)
    gauge('lockstep_orderer_pending', 'Requests the orderer holds until they are stable.', () => self()?.queueDepths.orderer)
    new Gauge({
      name: 'lockstep_queue_depth',
      help: 'Depth of each queue: orderer (requests not stable yet), held_for_transfer (delivered while the state is being transferred), replies_waiting (replies waiting for a majority of disks or of confirmed orders).',
      labelNames: ['queue'],
      registers: [registry],
      collect() {
        const queues = self()?.queueDepths
        if (queues === undefined) return
        this.set({ queue: 'orderer' }, queues.orderer)
        this.set({ queue: 'held_for_transfer' }, queues.heldForTransfer)
        this.set({ queue: 'replies_waiting' }, queues.repliesWaiting)
      },
    })
    gauge('lockstep_client_sessions', 'Client sessions in the replicated session table.', () => self()?.sessionCount)
    gauge('lockstep_peer_connections', 'Peers with an open, authenticated link.', () => this.transportStats()?.peersConnected.length)
    gauge('lockstep_client_connections', 'Clients with an open, authenticated connection (their own, or a shared one they spoke on).', () => this.transportStats()?.clientConnections)
    gauge('lockstep_shared_client_connections', 'Open connections shared by the clients of one process (shareConnections).', () => this.transportStats()?.sharedConnections)
    // Voting on the replicas' side: the state digests every `stateDigestEvery` deliveries outvote a replica whose
    // state differs from a majority's (it then rejoins). Dissent seen by clients' voters is counted by the clients.
    let divergencesSeen = 0
    new Counter({
      name: 'lockstep_state_divergences_total',
      help: "Times this replica's state digest differed from a majority's at a checkpoint, so it was outvoted and took the majority's state (stateDigestEvery).",
      registers: [registry],
      collect() {
        const total = self()?.stateDivergences
        if (total === undefined || total <= divergencesSeen) return
        this.inc(total - divergencesSeen)
        divergencesSeen = total
      },
    })
    // A peer's disk that reported less of the order than it had reported holding, and a majority's disks held: it
    // lost what it had synced (the engine says so at error level). By peer, so that an alert names the disk.
    let diskLossesSeen = 0
    new Counter({
      name: 'lockstep_peer_disk_losses_total',
      help: "Times a peer (label peer) restarted from a disk holding less of the order than it had reported syncing, below what a majority's disks held: that disk lost records it had synced.",
      labelNames: ['peer'],
      registers: [registry],
      collect() {
        const losses = self()?.diskLosses
        if (losses === undefined || losses.length <= diskLossesSeen) return
        for (const loss of losses.slice(diskLossesSeen)) this.inc({ peer: loss.replica })
        diskLossesSeen = losses.length
      },
    })
    const transportStats = () => this.transportStats()
    let refusedSeen = 0
    new Counter({
      name: 'lockstep_refused_connections_total',
      help: 'Connections refused: at the connection limits, in the handshake (a wrong secret or cluster, an unknown id) or a failed TLS handshake.',
      registers: [registry],
      collect() {
        const total = transportStats()?.refusedConnections
        if (total === undefined || total <= refusedSeen) return
        this.inc(total - refusedSeen)
        refusedSeen = total
      },
    })
  }

  /**
   * Starts reading the replica (its engine) and its transport; samples suspicions and the request rate every
   * 250 ms until `stop` (unless `sampler` is false: tests call `sample` themselves).
   */
  attach(host: ReplicaHost, transportStats: () => TcpTransportStats | undefined, sampler = true): void {
    this.host = host
    this.transportStats = transportStats
    if (!sampler) return
    this.timer = setInterval(() => this.sample(), SAMPLE_EVERY_MS)
    this.timer.unref()
  }

  /**
   * The next update of each of the cluster's revocation lists (`security.tls.crl`), as a Unix time in seconds, by
   * issuer: past it, TLS refuses every certificate of that CA (alert on it ahead).
   */
  revocationLists(lists: readonly RevocationList[]): void {
    this.revocationGauge ??= new Gauge({
      name: 'lockstep_tls_revocation_list_next_update_seconds',
      help: 'When each revocation list of security.tls.crl is due for renewal (Unix time, seconds): past it, TLS refuses every certificate of its CA.',
      labelNames: ['issuer'],
      registers: [this.registry],
    })
    const gauge = this.revocationGauge
    gauge.reset()
    for (const list of lists) if (list.nextUpdate !== undefined) gauge.set({ issuer: list.issuer }, list.nextUpdate.getTime() / 1000)
  }

  /** Stops the sampler. */
  stop(): void {
    clearInterval(this.timer)
    this.timer = undefined
  }

  /** A client message arrived: counts a request and remembers when it came. */
  clientMessage(client: string, message: unknown): void {
    const request = typeof message === 'object' && message !== null && (message as { type?: unknown }).type === 'request' ? (message as { request?: { seq?: unknown } }).request : undefined
    if (request === undefined) return
    this.requests.inc()
    this.requestCount++
    const key = `${client}\u0000${String(request.seq)}`
    if (this.waiting.size < MAX_TRACKED_REQUESTS && !this.waiting.has(key)) this.waiting.set(key, this.nowMs())
  }

  /** A message went to a client: a reply answers its request (whatever it says). */
  clientReply(client: string, message: unknown): void {
    if (typeof message !== 'object' || message === null || (message as { type?: unknown }).type !== 'reply') return
    const seq = (message as { reply?: { seq?: unknown } }).reply?.seq
    this.waiting.delete(`${client}\u0000${String(seq)}`)
  }

  /** A request was delivered here. */
  delivered(request: Request): void {
    this.deliveries.inc()
    this.waiting.delete(`${request.client}\u0000${String(request.seq)}`)
  }

  /** A view was installed here (the first one is not a change). */
  viewInstalled(viewId: number): void {
    if (viewId > 1) this.viewChanges.inc()
  }

  /** Wraps storage so that each sync's duration is observed. */
  timedStorage(factory: StorageFactory): StorageFactory {
    return (components) => {
      const storage = factory(components)
      const observe = (seconds: number) => this.fsyncSeconds.observe(seconds)
      const now = this.nowMs
      return new Proxy(storage, {
        get(target, property, receiver) {
          if (property === 'sync') {
            return async () => {
              const started = now()
              await target.sync()
              observe((now() - started) / 1000)
            }
          }
          const value = Reflect.get(target, property, receiver) as unknown
          return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value
        },
      }) as Storage
    }
  }

  /** The figures of `/status`; with `digest`, the state's digest (hashed a megabyte per turn). */
  async status(digest: boolean): Promise<ReplicaStatusReport> {
    const host = this.host
    if (host === undefined) throw new Error('the replica has not started yet')
    const engine = host.engine
    const stats = this.transportStats()
    const hashed = digest ? await engine.stateDigestInTurns(() => new Promise<void>((resolve) => setImmediate(resolve))) : null
    // Read after the digest's turns, with the view it is paired with.
    const configured = engine.viewConfiguration
    return {
      id: this.id,
      pid: process.pid,
      status: engine.status,
      view: { id: engine.view.id, members: [...engine.view.members] },
      configuration: [...configured.replicas],
      configurationView: configured.view,
      position: engine.position,
      orderDigestVersion: engine.orderDigestVersion,
      stabilityLag: { pendingRequests: engine.pending, oldestPendingMs: this.oldestPendingMs() },
      queues: engine.queueDepths,
      peersConnected: [...(stats?.peersConnected ?? [])],
      clientConnections: stats?.clientConnections ?? 0,
      requestsPerSecond: this.requestRate(),
      sessions: engine.sessionCount,
      suspected: [...engine.suspected],
      digest: hashed,
      clockOffsets: engine.clockOffsets ?? null,
      ...(this.options.statusSummary === false ? {} : summaryOf(engine)),
      ...(engine.transferRefused === undefined ? {} : { transferRefused: engine.transferRefused }),
    }
  }

  /** Age of the oldest request received and not delivered or answered, in ms (null when none). */
  private oldestPendingMs(): number | null {
    // The map keeps insertion order: the first entry is the oldest.
    for (const receivedAt of this.waiting.values()) return Math.max(0, this.nowMs() - receivedAt)
    return null
  }

  private requestRate(): number {
    const first = this.samples[0]
    if (first === undefined) return 0
    const elapsedMs = this.nowMs() - first.atMs
    return elapsedMs <= 0 ? 0 : Math.round(((this.requestCount - first.count) * 1000 * 100) / elapsedMs) / 100
  }

  /** Takes one sample: the request count for the rate, new suspicions, and forgets requests when nothing is held. */
  sample(): void {
    const now = this.nowMs()
    this.samples.push({ atMs: now, count: this.requestCount })
    while (this.samples.length > 1 && now - this.samples[0]!.atMs > RATE_WINDOW_MS) this.samples.shift()
    const engine = this.host?.engine
    if (engine === undefined) return
    // Nothing held here: every request received was delivered or answered, even one whose answer this replica did
    // not see (dropped as malformed, or answered by the session table without a reply through the transport).
    if (engine.pending === 0) this.waiting.clear()
    const suspected = new Set(engine.suspected)
    for (const member of suspected) if (!this.suspectedBefore.has(member)) this.suspicions.inc()
    this.suspectedBefore = suspected
  }
}

/** The machine's summary of its state for `/status`: `summary`, or `summaryError` saying why not; nothing without one. */
function summaryOf(engine: ReplicaHost['engine']): { summary?: JsonValue; summaryError?: string } {
  let summary: JsonValue | undefined
  try {
    summary = engine.stateSummary()
  } catch (error) {
    return { summaryError: `the state machine's summary failed: ${(error as Error)?.message ?? String(error)}` }
  }
  if (summary === undefined) return {}
  let text: string | undefined
  try {
    text = JSON.stringify(summary)
  } catch (error) {
    return { summaryError: `the state machine's summary is not JSON: ${(error as Error)?.message ?? String(error)}` }
  }
  if (text === undefined) return { summaryError: 'the state machine\'s summary is not JSON (undefined, a function or a symbol)' }
  if (text.length > MAX_SUMMARY_JSON_CHARS) {
    return { summaryError: `the state machine's summary is ${text.length} characters of JSON, more than the ${MAX_SUMMARY_JSON_CHARS} a replica reports: StateMachine.summary must stay small (about 4 KB)` }
  }
  // Parsed back: what the endpoint sends is what was measured (no toJSON methods or undefined fields on the way).
  return { summary: JSON.parse(text) as JsonValue }
}
