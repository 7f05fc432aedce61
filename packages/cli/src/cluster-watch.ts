import type { LoadedClusterConfig } from './cluster-config'
import { getJson, getText, type EndpointAnswer } from './replica-endpoints'
import type { ReplicaStatusReport } from './replica-metrics'

/** One replica as one poll of its operator endpoint saw it: down (and why), or up with its figures. */
export type ReplicaSample =
  | { readonly id: string; readonly up: false; readonly error: { readonly code: string; readonly message: string } }
  | {
      readonly id: string
      readonly up: true
      readonly pid: number
      /** 'normal' (serving in a view), 'frozen', 'transferring', 'joining' or 'recovering'. */
      readonly status: string
      readonly view: { readonly id: number; readonly members: readonly string[] }
      readonly position: number
      readonly pendingRequests: number
      readonly oldestPendingMs: number | null
      readonly peersConnected: readonly string[]
      readonly clientConnections: number
      readonly requestsPerSecond: number
      readonly sessions: number
      readonly repliesWaiting: number
      readonly suspected: readonly string[]
      /** `lockstep_view_changes_total` and `lockstep_suspicions_total` of its /metrics (null when /metrics did not answer). */
      readonly viewChangesTotal: number | null
      readonly suspicionsTotal: number | null
    }

/** Every replica at one moment (`atMs`: epoch milliseconds of the poll's end). */
export interface ClusterSample {
  readonly atMs: number
  readonly replicas: readonly ReplicaSample[]
}

/** Something that changed between two polls: what the dashboard lists under "recent events". */
export interface ClusterEvent {
  readonly atMs: number
  readonly replica: string
  readonly kind: 'down' | 'up' | 'status' | 'view' | 'suspect' | 'unsuspect'
  readonly text: string
}

/**
 * The changes from `previous` (undefined: the first poll) to `next`: replicas going down or coming up, status
 * changes, views installed, and members suspected (now, or in between by the replica's suspicion counter) or no
 * longer suspected. Pure: the dashboard's event list.
 */
export function clusterEvents(previous: ClusterSample | undefined, next: ClusterSample): ClusterEvent[] {
  const events: ClusterEvent[] = []
  const atMs = next.atMs
  for (const now of next.replicas) {
    const before = previous?.replicas.find((r) => r.id === now.id)
    const event = (kind: ClusterEvent['kind'], text: string) => events.push({ atMs, replica: now.id, kind, text: `${now.id} ${text}` })
    if (!now.up) {
      if (before === undefined || before.up) event('down', `down: ${now.error.code}: ${now.error.message}`)
      continue
    }
    if (before === undefined || !before.up) {
      event('up', `up: ${now.status}, view ${now.view.id} (${now.view.members.join(', ')}), position ${now.position}`)
      continue
    }
    if (before.view.id !== now.view.id) event('view', `installed view ${now.view.id}: ${now.view.members.join(', ')}`)
    if (before.status !== now.status) event('status', `status ${before.status} → ${now.status}`)
    const newlySuspected = now.suspected.filter((member) => !before.suspected.includes(member))
    for (const member of newlySuspected) event('suspect', `suspects ${member}`)
    // A suspicion that began and ended between two polls shows only in the replica's counter (it samples every 250 ms).
    const counted = now.suspicionsTotal !== null && before.suspicionsTotal !== null ? now.suspicionsTotal - before.suspicionsTotal : 0
    if (counted > newlySuspected.length) event('suspect', `suspected a member since the last poll (lockstep_suspicions_total +${counted})`)
    for (const member of before.suspected) if (!now.suspected.includes(member)) event('unsuspect', `no longer suspects ${member}`)
  }
  return events
}

/** The value of an unlabelled (but for `replica`) series in Prometheus text, or null when absent. */
export function metricValue(text: string, name: string): number | null {
  const match = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)
  if (!match) return null
  const value = Number(match[1])
  return Number.isFinite(value) ? value : null
}

/** A replica's sample from its `/status` answer and, when it came, its `/metrics` text. */
export function replicaSample(id: string, status: EndpointAnswer<ReplicaStatusReport>, metrics: EndpointAnswer<string> | undefined): ReplicaSample {
  if (!status.ok) return { id, up: false, error: status.error }
  const report = status.value
  const text = metrics?.ok === true ? metrics.value : undefined
  return {
    id,
    up: true,
    pid: report.pid,
    status: report.status,
    view: report.view,
    position: report.position,
    pendingRequests: report.stabilityLag.pendingRequests,
    oldestPendingMs: report.stabilityLag.oldestPendingMs,
    peersConnected: report.peersConnected,
    clientConnections: report.clientConnections,
    requestsPerSecond: report.requestsPerSecond,
    sessions: report.sessions,
    repliesWaiting: report.queues.repliesWaiting,
    suspected: report.suspected,
    viewChangesTotal: text === undefined ? null : metricValue(text, 'lockstep_view_changes_total'),
    suspicionsTotal: text === undefined ? null : metricValue(text, 'lockstep_suspicions_total'),
  }
}

/** Options of {@link ClusterWatch}. */
export interface ClusterWatchOptions {
  /** How often every replica is asked (a poll starts this long after the last one started, or when it ends if it took longer). */
  readonly intervalMs: number
  /** How long one replica may take to answer before it counts as down for that poll. */
  readonly timeoutMs: number
  /** Samples kept (the charts' history). */
  readonly historyLength: number
  /** Events kept. */
  readonly eventsKept: number
  /** Told when a poll fails as a whole (it should not: every failure to answer is a down replica); the next poll still runs. */
  readonly onError?: (error: unknown) => void
}

/**
 * Polls every replica's operator endpoint (`GET /status?digest=false` and `GET /metrics`, at once) until
 * `stop`, keeps the recent samples and the events derived from them, and tells every listener of each new
 * sample. A replica is down for a poll when its `/status` did not answer (refused, unreachable, timed out).
 */
export class ClusterWatch {
  private readonly samples: ClusterSample[] = []
  private readonly events: ClusterEvent[] = []
  private readonly listeners = new Set<(sample: ClusterSample, events: readonly ClusterEvent[]) => void>()
  private timer: ReturnType<typeof setTimeout> | undefined
  private stopped = false
  private polling: Promise<void> | undefined

  constructor(
    readonly config: LoadedClusterConfig,
    readonly options: ClusterWatchOptions,
  ) {}

  /** Starts polling (the first poll at once). */
  start(): void {
    this.schedule(0)
  }

  /** The samples and events kept, oldest first. */
  history(): { readonly samples: readonly ClusterSample[]; readonly events: readonly ClusterEvent[] } {
    return { samples: [...this.samples], events: [...this.events] }
  }

  /** Calls `listener` after every poll with its sample and the events it gave. Returns an unsubscribe function. */
  subscribe(listener: (sample: ClusterSample, events: readonly ClusterEvent[]) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** Stops polling; resolves once a poll under way ended. */
  async stop(): Promise<void> {
    this.stopped = true
    clearTimeout(this.timer)
    this.listeners.clear()
    await this.polling
  }

  /** Asks every replica once and records the sample. */
  async poll(): Promise<ClusterSample> {
    const { config, options } = this
    const replicas = await Promise.all(
      config.replicas.map(async (replica) => {
        const [status, metrics] = await Promise.all([
          getJson<ReplicaStatusReport>(config, replica, '/status?digest=false', options.timeoutMs),
          getText(config, replica, '/metrics', options.timeoutMs),
        ])
        return replicaSample(replica.id, status, metrics)
      }),
    )
    const sample: ClusterSample = { atMs: Date.now(), replicas }
    const events = clusterEvents(this.samples.at(-1), sample)
    this.samples.push(sample)
    if (this.samples.length > options.historyLength) this.samples.splice(0, this.samples.length - options.historyLength)
    this.events.push(...events)
    if (this.events.length > options.eventsKept) this.events.splice(0, this.events.length - options.eventsKept)
    for (const listener of this.listeners) listener(sample, events)
    return sample
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return
    this.timer = setTimeout(() => {
      const startedAt = performance.now()
      this.polling = this.poll()
        .then(
          () => {},
          (error: unknown) => this.options.onError?.(error),
        )
        .finally(() => this.schedule(Math.max(0, this.options.intervalMs - (performance.now() - startedAt))))
    }, delayMs)
  }
}
