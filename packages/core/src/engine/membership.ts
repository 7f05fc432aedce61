import type { Clock, CrashTolerantOrderer, Logger, ReplicaId, View } from '@lockstep/interface'
import type { EngineEffects, EngineStatus, MembershipOptions } from './engine-types'
import { FailureDetector } from './failure-detector'
import { MembershipRequests } from './membership-requests'
import type { PeerMessage, PeerMessageOf, ViewValue } from './peer-messages'
import { decideRecovery, type RecoveryReport } from './recovery'
import type { RequestPath } from './request-path'
import { StateTransfer, transferSources } from './state-transfer'
import { proposeNextView } from './view-change/coordinator'
import { majorityOf } from './view-change/quorum'
import { ViewChange } from './view-change/view-change'

/** What membership needs from the engine: its situation, and the one way to change its status. */
export interface MembershipHost {
  readonly self: ReplicaId
  readonly clock: Clock
  readonly log: Logger
  readonly effects: EngineEffects
  /** This process's incarnation (its start time): joins, recoveries and the views that admit them carry it. */
  readonly incarnation: number
  readonly orderer: CrashTolerantOrderer
  readonly requests: RequestPath<unknown>
  /** Every configured replica (shared with the engine, which drops messages from anyone else). */
  readonly configuration: Set<ReplicaId>
  status(): EngineStatus
  view(): View
  isMember(replica: ReplicaId): boolean
  /** The one place the status changes (and, with `view`, the view). */
  transitionTo(status: EngineStatus, view?: View): void
  send(to: ReplicaId, message: PeerMessage): void
  /** Handles the orderer messages of the new view that arrived before it was installed. */
  replayFutureMessages(): void
  /** The view-change flush: the orderer delivers the old view's agreed end and starts `view` (false if this replica lacks part of it). */
  endView(view: View, boundary: unknown): boolean
}

/**
 * Membership: failure detection, majority-agreed view changes, joins and
 * operator commands, state transfer, and whole-cluster recovery from disks.
 * The engine has one only when it runs with `membership` options; its peer
 * message handlers live here, and every status change goes back through the
 * engine's `transitionTo`.
 */
export class Membership {
  private readonly host: MembershipHost
  private readonly options: Required<MembershipOptions>
  readonly detector: FailureDetector
  readonly viewChange: ViewChange
  readonly transfer = new StateTransfer()
  readonly asks: MembershipRequests
  /** The orderer's report, taken once when this replica froze for the current view change. */
  private frozenReport: unknown = undefined
  /** The value of the view this replica installed last: re-sent to replicas that missed it. */
  private lastCommit: ViewValue | undefined
  /** When this replica last asked to join, to recover, or for the state (asks repeat until answered). */
  private lastAskedAt = -Infinity
  /** Whole-cluster recovery: the last view and position each recovering replica reported. */
  private readonly recoveryReports = new Map<ReplicaId, RecoveryReport>()

  constructor(host: MembershipHost, options: MembershipOptions) {
    this.host = host
    this.options = { heartbeatMs: 50, suspectAfterMs: 500, viewChangeTimeoutMs: 1000, ...options }
    this.asks = new MembershipRequests(host.configuration, host.log)
    this.detector = new FailureDetector(host.self, this.options)
    this.detector.watch(host.view().members, host.clock.now())
    const quorum = () => majorityOf(host.view().members.length)
    this.viewChange = new ViewChange({
      self: host.self,
      clock: host.clock,
      log: host.log,
      timeoutMs: this.options.viewChangeTimeoutMs,
      view: host.view,
      isMember: host.isMember,
      holdsViewState: () => host.status() === 'normal' || host.status() === 'frozen',
      isTransferring: () => host.status() === 'transferring',
      quorum,
      send: host.send,
      freeze: () => this.freeze(),
      suspects: () => this.detector.suspects(host.clock.now()),
      lastCommit: () => this.lastCommit,
      propose: (promises) => {
        const boundary = host.orderer.mergeReports([...promises.values()].map((p) => p.report))
        return proposeNextView({ current: host.view(), promises, removals: this.asks.removals, joinRequests: this.asks.joins, majority: quorum(), boundary })
      },
    })
  }

  /** Time passed: repeated asks (join, recover, state), heartbeats, and a view change when one is needed. */
  tick(): void {
    const { host } = this
    const now = host.clock.now()
    const askDue = now - this.lastAskedAt >= this.options.viewChangeTimeoutMs / 2
    const status = host.status()
    if (status === 'recovering' || status === 'joining') {
      if (!askDue) return
      this.lastAskedAt = now
      const ask: PeerMessage =
        status === 'joining'
          ? { kind: 'join', incarnation: host.incarnation }
          : { kind: 'recover', view: host.view(), position: host.requests.replicated.position, incarnation: host.incarnation, configuration: [...host.configuration] }
      for (const replica of host.configuration) if (replica !== host.self) host.send(replica, ask)
      return
    }
    const suspects = this.detector.suspects(now)
    for (const member of this.detector.heartbeatsDue(now)) host.send(member, { kind: 'heartbeat', view: host.view().id, suspects })
    if (status === 'transferring') {
      if (askDue) this.requestState()
      return
    }
    // A view change is needed when a majority suspects a member, there is membership work, or one is stuck half-way.
    const members = host.view().members
    const suspectedByMajority = members.some((m) => m !== host.self && this.detector.suspicionCount(m, suspects) >= majorityOf(members.length))
    const needed = suspectedByMajority || this.asks.pending(new Set(members)) || status === 'frozen'
    this.viewChange.tick(needed, suspects, this.asks.joins)
  }

  /** A replica restarted from its disk: it waits to be added back, or for every configured replica to report. */
  recovering(): void {
    this.host.transitionTo('recovering')
    this.recoveryReports.set(this.host.self, { view: this.host.view(), position: this.host.requests.replicated.position })
    this.lastAskedAt = -Infinity
  }

  onHeartbeat(from: ReplicaId, m: PeerMessageOf<'heartbeat'>): void {
    const view = this.host.view()
    if (m.view === view.id && this.host.isMember(from)) this.detector.reported(from, m.suspects)
    else if (m.view > view.id) this.host.send(from, { kind: 'query', view: m.view })
    else if (m.view < view.id) this.host.send(from, this.lastCommit && this.host.isMember(from) ? { kind: 'commit', value: this.lastCommit } : { kind: 'removed', view })
  }

  onQuery(from: ReplicaId, m: PeerMessageOf<'query'>): void {
    if (this.lastCommit && m.view <= this.host.view().id) this.host.send(from, { kind: 'commit', value: this.lastCommit })
  }

  onRemoved(m: PeerMessageOf<'removed'>): void {
    if (m.view.id > this.host.view().id && !m.view.members.includes(this.host.self)) this.leave(m.view)
  }

  onJoin(from: ReplicaId, m: PeerMessageOf<'join'>): void {
    if (this.host.status() !== 'joining') this.asks.askedToJoin(from, m.incarnation, 'join', this.host.view().id)
  }

  /**
   * Whole-cluster recovery. A live cluster treats a recovering replica like any joiner (its disk state is
   * replaced by a transfer). Recovering replicas collect each other's reports and decide, all alike, the
   * view to resume in (`decideRecovery`).
   */
  onRecover(from: ReplicaId, m: PeerMessageOf<'recover'>): void {
    const { host } = this
    const status = host.status()
    if (status === 'normal' || status === 'frozen') return this.asks.askedToJoin(from, m.incarnation, 'recover', host.view().id)
    if (status !== 'recovering') return
    this.recoveryReports.set(from, { view: m.view, position: m.position })
    for (const replica of m.configuration) host.configuration.add(replica)
    const decision = decideRecovery(this.recoveryReports, host.configuration)
    if (!decision) return
    host.log.info(`whole-cluster recovery: view ${decision.view.id} (${decision.view.members.join(', ')}) resumes from '${decision.source}' at position ${decision.position}`)
    this.recoveryReports.clear()
    host.orderer.viewChanged(decision.view)
    const value: ViewValue = { view: decision.view, joining: decision.view.members.filter((r) => r !== decision.source), incarnations: {}, boundary: undefined }
    if (decision.source === host.self) this.startView(value)
    else this.awaitState(value)
    host.replayFutureMessages()
  }

  onStateRequest(from: ReplicaId, m: PeerMessageOf<'stateRequest'>): void {
    const image = this.host.status() === 'transferring' ? undefined : this.transfer.imageAt(m.view)
    if (image) this.host.send(from, { kind: 'stateTransfer', view: image.view, position: image.position, machine: image.machine, sessions: image.sessions })
    else if (this.lastCommit && m.view < this.host.view().id) this.host.send(from, { kind: 'commit', value: this.lastCommit })
  }

  onStateTransfer(m: PeerMessageOf<'stateTransfer'>): void {
    const { host } = this
    if (host.status() !== 'transferring' || m.view !== host.view().id) return
    host.requests.replicated.restore(m)
    this.transfer.recordViewStart(m.view, m)
    host.transitionTo('normal')
    host.effects.stateReplaced?.(m.position)
    host.effects.viewInstalled?.(host.view(), m.position)
    host.log.info(`replica '${host.self}' took the state of view ${m.view} at position ${m.position} and serves again`)
    for (const request of this.transfer.takeHeld()) host.requests.execute(request)
    host.requests.resubmitHeld()
  }

  /** Installs a chosen view (`commit`): the flush delivers the old view's agreed end, then the new view starts. */
  install(value: ViewValue): void {
    const { host } = this
    const status = host.status()
    const current = host.view()
    if (value.view.id <= current.id) return
    // A replica outside the view (restarted without state, or removed) may only come in as one of the
    // view's joiners: a view that lists it as a plain member counted on acknowledgements it no longer has.
    if ((status === 'joining' || status === 'recovering') && value.incarnations[host.self] !== host.incarnation) return
    const isMember = value.view.members.includes(host.self)
    const consecutive = value.view.id === current.id + 1
    // A whole-cluster recovery view has no boundary: everyone but its source takes the state by transfer.
    const canFlush = consecutive && isMember && !value.joining.includes(host.self) && value.boundary !== undefined && (status === 'normal' || status === 'frozen')
    if (canFlush && host.endView(value.view, value.boundary)) this.startView(value)
    else if (isMember) {
      // Joining, or too far behind to end the old view by itself: order in the new view, execute after the state arrives.
      host.orderer.viewChanged(value.view)
      this.awaitState(value)
    } else return this.leave(value.view)
    host.replayFutureMessages()
  }

  /** Stops ordering in the current view (once): from now on this replica delivers nothing until the next view. */
  freeze(): unknown {
    if (this.host.status() === 'normal') {
      this.frozenReport = this.host.orderer.freeze()
      this.host.transitionTo('frozen')
    }
    return this.frozenReport
  }

  /** Requests this replica delivered but holds until the state of its view arrives. */
  get held(): number {
    return this.transfer.heldCount
  }

  /** Starts serving in `value`'s view with the state at hand, which every joiner of the view takes. */
  private startView(value: ViewValue): void {
    const { host } = this
    this.enterView(value, 'normal')
    this.transfer.recordViewStart(value.view.id, host.requests.replicated.image())
    host.effects.viewInstalled?.(value.view, host.requests.replicated.position)
    host.log.info(`replica '${host.self}' installed view ${value.view.id}: ${value.view.members.join(', ')} at position ${host.requests.replicated.position}`)
    host.requests.resubmitHeld()
  }

  /** Orders in `value`'s view, holding what it delivers, until the state at the view's start arrives. */
  private awaitState(value: ViewValue): void {
    this.enterView(value, 'transferring')
    this.transfer.dropHeld()
    this.requestState()
  }

  private enterView(value: ViewValue, status: 'normal' | 'transferring'): void {
    this.host.transitionTo(status, value.view)
    this.lastCommit = value
    this.frozenReport = undefined
    this.viewChange.reset()
    this.asks.installed(value)
    this.host.requests.forgetInFlight()
    this.detector.watch(value.view.members, this.host.clock.now())
  }

  /** This replica is not a member any more: stop serving and ask to be added back. */
  private leave(view: View): void {
    const { host } = this
    if (host.status() === 'joining' && view.id <= host.view().id) return
    host.log.warn(`replica '${host.self}' is not a member of view ${view.id} (${view.members.join(', ')}); it rejoins by state transfer`)
    if (host.status() === 'normal') host.orderer.freeze()
    host.transitionTo('joining', view)
    host.requests.dropAll()
    this.transfer.dropHeld()
    this.viewChange.reset()
    this.lastAskedAt = -Infinity
  }

  private requestState(): void {
    const view = this.host.view()
    this.lastAskedAt = this.host.clock.now()
    for (const source of transferSources(view, this.lastCommit?.joining ?? [], this.host.self)) this.host.send(source, { kind: 'stateRequest', view: view.id })
  }
}
