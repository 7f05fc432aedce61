import type { JsonValue } from '@lockstep/interface'
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
  /** The lock, from the machine's summary of its state (see {@link lockView}); absent in samples made without it. */
  readonly lock?: LockView
}

/**
 * The lock as the dashboard shows it, read from the summary (`GET /status`'s `summary`) of the most advanced
 * up replica that reports one: the holder (`user`), the queue (`waiting`, its first clients and its length),
 * the lease's end (`expires`, agreed time in epoch ms; the leased mutex) and the last fencing token
 * (`token`), the names the mutex machines use. Or why it cannot be shown.
 */
export type LockView =
  | {
      readonly shown: true
      /** The replica whose summary it is, and its position. */
      readonly from: string
      readonly position: number
      readonly holder: string | null
      /** The first clients waiting, in grant order (a summary holds the first 20). */
      readonly queue: readonly string[]
      readonly queueLength: number
      /** When the holder's lease ends (epoch ms of agreed time); null without a lease or a holder. */
      readonly leaseExpiresAtMs: number | null
      /** The last fencing token granted; null when the machine has none. */
      readonly token: number | null
    }
  | { readonly shown: false; readonly reason: string }

/** The lock from the replicas' `/status` answers (see {@link LockView}). Pure. */
export function lockView(reports: readonly ReplicaStatusReport[]): LockView {
  if (reports.length === 0) return { shown: false, reason: 'no replica answered' }
  const withSummary = reports.filter((r) => r.summary !== undefined)
  if (withSummary.length === 0) {
    const failed = reports.find((r) => r.summaryError !== undefined)
    if (failed) return { shown: false, reason: `${failed.id}: ${failed.summaryError!}` }
    return { shown: false, reason: 'the replicas report no summary of the machine\'s state ("statusSummary": false in the configuration, or a machine without one)' }
  }
  // The most advanced: the highest position, the first in the configuration's order among equals.
  const best = withSummary.reduce((a, b) => (b.position > a.position ? b : a))
  const summary = best.summary as JsonValue
  const record = summary !== null && typeof summary === 'object' && !Array.isArray(summary) ? (summary as { readonly [key: string]: JsonValue }) : undefined
  const user = record?.['user']
  const waiting = record?.['waiting']
  const items = Array.isArray(waiting) ? waiting : waiting !== null && typeof waiting === 'object' ? (waiting as { items?: JsonValue }).items : undefined
  if (record === undefined || (user !== null && typeof user !== 'string') || !Array.isArray(items)) {
    return { shown: false, reason: `the summary of ${best.id} is not a lock's (it has no 'user' and 'waiting')` }
  }
  const count = Array.isArray(waiting) ? waiting.length : (waiting as { count?: JsonValue }).count
  const expires = record['expires']
  const token = record['token']
  return {
    shown: true,
    from: best.id,
    position: best.position,
    holder: user,
    queue: (items as readonly JsonValue[]).map((item) => (typeof item === 'string' ? item : JSON.stringify(item))),
    queueLength: typeof count === 'number' ? count : items.length,
    leaseExpiresAtMs: user !== null && typeof expires === 'number' && expires > 0 ? expires : null,
    token: typeof token === 'number' ? token : null,
  }
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
    const answers = await Promise.all(
      config.replicas.map(async (replica) => {
        const [status, metrics] = await Promise.all([
          getJson<ReplicaStatusReport>(config, replica, '/status?digest=false', options.timeoutMs),
          getText(config, replica, '/metrics', options.timeoutMs),
        ])
        return { sample: replicaSample(replica.id, status, metrics), report: status.ok ? status.value : undefined }
      }),
    )
    const replicas = answers.map((answer) => answer.sample)
    const lock = lockView(answers.flatMap((answer) => (answer.report === undefined ? [] : [answer.report])))
    const sample: ClusterSample = { atMs: Date.now(), replicas, lock }
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
