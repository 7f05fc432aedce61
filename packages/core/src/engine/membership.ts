import type { Clock, CrashTolerantOrderer, Logger, ReplicaId, View } from '@lockstep/interface'
import { DEFAULT_MEMBERSHIP, type EngineEffects, type EngineStatus, type MembershipOptions } from './engine-types'
import { ClusterStart } from './cluster-start'
import { FailureDetector } from './failure-detector'
import { MembershipRequests } from './membership-requests'
import type { Holding, PeerMessage, PeerMessageOf, ViewValue } from './peer-messages'
import type { RequestPath } from './request-path'
import { CatchUp } from './catch-up'
import type { TransferOptions } from './state-transfer'
import type { AcceptorState } from './view-change/acceptor'
import { proposeValue } from './view-change/coordinator'
import { majorityOf } from './view-change/quorum'
import { ViewChange } from './view-change/view-change'

/**
 * How a replica starts: `member` of the initial view (a cluster that has started already, for tests);
 * `fresh`, without any state, starting a new cluster with a majority of fresh replicas or else joining the
 * existing one; `joiner`, asking an existing cluster to add it.
 */
export type StartAs = 'member' | 'fresh' | 'joiner'

/**
 * A request to join not asked again for this many view-change timeouts is dropped (see `MembershipRequests.expire`):
 * the asker repeats it every half timeout while it waits.
 */
export const JOIN_EXPIRES_AFTER_TIMEOUTS = 3

/** What membership needs from the engine: its situation, and the one way to change its status. */
export interface MembershipHost {
  readonly self: ReplicaId
  readonly clock: Clock
  readonly log: Logger
  readonly effects: EngineEffects
  /** This process's incarnation (its start time): joins, promises and the views that admit them carry it. */
  readonly incarnation: number
  readonly orderer: CrashTolerantOrderer
  readonly requests: RequestPath<unknown>
  /** Every replica this one knows of (shared with the engine, which drops messages from anyone else). */
  readonly replicas: Set<ReplicaId>
  /** The initial view, and the configured replicas at the start (the first quorum). */
  readonly initialView: View
  readonly initialConfiguration: readonly ReplicaId[]
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
  /** These replicas start afresh (joiners): what their disks were known to hold no longer counts. */
  forgetDurable(replicas: readonly ReplicaId[]): void
  /** Drops the replies and outputs still waiting for disks: they answer deliveries this replica no longer vouches for. */
  dropHeldReplies(): void
  /** Its state was replaced by a transfer (see `CatchUpHost.orderReplaced`). */
  orderReplaced(): void
  /** Tells the view's members again how far this replica's disk (or delivery) holds the order (see `DurableReplies.repeatOwnReport`). */
  repeatDurableReport(): void
  /**
   * True if a reply waits for a majority (its disks, or its deliveries: see `DurableReplies`); false if a replica
   * answers as soon as it executes (memory storage, an orderer without timing assumptions).
   */
  repliesWaitForMajority(): boolean
  /** True if a send to a member was refused in the current view (a full link): its order stream has a hole. */
  ordererCutOff(): boolean
}

/**
 * Membership: failure detection, majority-agreed view changes, joins and
 * operator commands, state transfer, the start of a new cluster, and the
 * return of replicas restarted from their disks. The engine has one only
 * with `membership` options; its peer message handlers live here (and in
 * `ViewChange`), and every status change goes back through the engine's
 * `transitionTo`.
 */
export class Membership {
  private readonly host: MembershipHost
  private readonly options: Required<MembershipOptions>
  readonly detector: FailureDetector
  readonly viewChange: ViewChange
  readonly catchUp: CatchUp
  readonly asks: MembershipRequests
  /** The newest view number this replica knows to be decided. */
  private knownView: number
  /** Votes in view changes below this may have been forgotten (a restart without them): no vote there. */
  private votesFrom: number
  /** Starting a new cluster, while this replica is fresh. */
  private readonly start: ClusterStart
  /** The replicas whose majority decides the next view change (the last installed view's configuration). */
  private configuration: readonly ReplicaId[]
  /** The orderer's report, taken once when this replica froze for the current view change. */
  private frozenReport: unknown = undefined
  /** The value of the view this replica installed last: re-sent to replicas that missed it. */
  private lastCommit: ViewValue | undefined
  /** When this replica last asked to join, to recover, or for the state (asks repeat until answered). */
  private lastAskedAt = -Infinity
  /** Restarted from its disk: the view and position the disk holds, and since when it waits to be brought back. */
  private disk: { readonly view: View; readonly position: number; readonly since: number; readonly damaged: boolean } | undefined
  /**
   * Restarted from a damaged disk (`recoverDamaged`) and without the cluster's state yet: the view and position
   * its disk held. Until the state arrives it reports them (as damaged) in every view change, so a majority of
   * reports still bounds every acknowledged request, though its own state is empty.
   */
  private damagedClaim: { readonly view: View; readonly position: number } | undefined
  /** The view whose state this replica gave up while a member (`discardState`), until it is in a view again. */
  private leftView: number | undefined
  /** Restarted from its disk and not yet serving with the cluster's state. */
  private fromDisk = false
  /** Since when this replica waits, outside any view, to be added (see `tick`). */
  private joiningSince: number | undefined
  /**
   * Outside a live view (transferring, or removed), the view whose state this replica holds: the one it served
   * in last, or its disk's when it restarted from it. Undefined when it started without state and took none yet.
   */
  private stateView: View | undefined
  /** The newest value this replica learned was chosen, even one it could not install (while it recovers). */
  private knownValue: ViewValue | undefined
  /** The view whose value (or disk, or the initial view) gave `configuration`. */
  private configurationView: number
  /** When this replica entered its view, and whether the view change kept the members it had (see `tick`). */
  private viewEntered: { readonly at: number; readonly sameMembers: boolean } | undefined
  /** Whether the last tick found this replica's view working (see `ignoresPrepare`). */
  private viewWorks = false
  /** The view number of each coordinator's latest prepare here (see `ignoresPrepare`). */
  private readonly preparedBy = new Map<ReplicaId, number>()
  /** The last view change this replica left unanswered (said once each: see `leaveUnanswered`). */
  private ignoredPrepare: { readonly coordinator: ReplicaId; readonly view: number } | undefined
  /** Fresh joins from members of the initial view, waiting a view-change timeout for them to start in it. */
  private readonly freshJoins = new Map<ReplicaId, { readonly incarnation: number; readonly since: number }>()

  constructor(host: MembershipHost, options: MembershipOptions, startAs: StartAs, transfer: TransferOptions) {
    this.host = host
    this.catchUp = new CatchUp({ ...host, transitionTo: (status) => host.transitionTo(status) }, transfer)
    this.options = { ...DEFAULT_MEMBERSHIP, ...options }
    this.asks = new MembershipRequests(host.log, () => host.clock.now())
    this.detector = new FailureDetector(host.self, { ...this.options, outsideSilentAfterMs: this.options.suspectAfterMs + this.options.viewChangeTimeoutMs / 2 })
    this.detector.watch(host.view().members, host.clock.now())
    this.configuration = [...host.initialConfiguration].sort()
    this.configurationView = host.initialView.id
    this.start = new ClusterStart(host.self, host.initialView, startAs === 'fresh', host.log, host.incarnation)
    this.knownView = startAs === 'member' ? host.initialView.id : 0
    this.votesFrom = startAs === 'member' ? host.initialView.id + 1 : Infinity
    if (startAs === 'member') this.lastCommit = this.initialValue()
    this.viewChange = new ViewChange({
      self: host.self,
      incarnation: host.incarnation,
      clock: host.clock,
      log: host.log,
      timeoutMs: this.options.viewChangeTimeoutMs,
      knownView: () => this.knownView,
      votesFrom: () => this.votesFrom,
      configuration: () => this.coordinatorConfiguration(),
      lastCommit: () => this.newestChosen(),
      send: host.send,
      persistVotes: (state) => host.effects.persistVotes?.(state),
      promiseHolding: (instance) => this.holding(instance),
      acceptedValue: (instance) => (instance === host.view().id + 1 ? this.freeze() : undefined),
      suspects: () => this.reportedSuspects(host.clock.now()),
      propose: (instance, promises) => {
        // The view the change ends is the one numbered just below it: this replica's own, or (restarted from its
        // disk) a newer one it learned was chosen; never number the next view after an older one.
        const ending = this.endingView(instance)
        if (!ending) return undefined
        // Its own promise says whom it did not hear when it promised; it knows better now (a member it did not hear
        // then may have promised since). Found: r2 suspected r1 behind a partition, coordinated, and after the heal
        // left r1 out of the view r1 had just promised in.
        const own = promises.get(host.self)
        const current = own ? new Map(promises).set(host.self, { ...own, suspects: this.reportedSuspects(host.clock.now()) }) : promises
        const reports = new Map<ReplicaId, readonly ReplicaId[]>()
        for (const member of ending.view.members) {
          const report = promises.has(member) ? undefined : this.detector.reportOf(member)
          if (report) reports.set(member, report)
        }
        return proposeValue({ view: instance, current: ending.view, configuration: ending.configuration, changes: ending.changes, promises: current, asks: this.asks, merge: (reports) => host.orderer.mergeReports(reports), coordinator: host.self, reports })
      },
      heardOfView: (view) => (this.knownView = Math.max(this.knownView, view)),
      learnedChosen: (value) => this.learnedChosen(value),
      ignoresPrepare: (coordinator, view) => this.ignoresPrepare(coordinator, view),
      refusesCoordinator: (coordinator) => {
        // A replica an operator removed that restarted from a disk older than its removal still counts itself in
        // the configuration and coordinates view changes; voting in them froze the serving members each time, and
        // the cluster changed views for ever (found by the simulator's `membership` fault).
        if (coordinator === host.self || !this.asks.removedByOperator(coordinator)) return false
        host.send(coordinator, { kind: 'removed', view: host.view() })
        return true
      },
    })
  }

  /** Time passed: repeated asks (join, recover, state), heartbeats, and a view change when one is needed. */
  tick(): void {
    const { host } = this
    const now = host.clock.now()
    const askDue = now - this.lastAskedAt >= this.options.viewChangeTimeoutMs / 2
    const status = host.status()
    if (status === 'joining') {
      this.maybeStartCluster()
      if (host.status() !== 'joining') return
      if (askDue) {
        const without = this.namedWithoutState()
        const leftView = this.leftView === undefined ? without : Math.max(this.leftView, without ?? -Infinity)
        this.ask(leftView === undefined ? this.joinMessage() : { kind: 'join', incarnation: host.incarnation, fresh: false, leftView })
      }
      // A replica left out of a view that still holds a state (the view's it served in last) counts in a view
      // change like a disk. When nobody adds it back for a view-change timeout, it starts one itself, as a replica
      // restarted from its disk does: a live cluster (whose view changes it sees) comes first, and without one the
      // replicas holding states resume the cluster from a majority's. Found (world simulator, seed 277): the
      // coordinator of view {r1, r3} lost memory and disk before r1 learned of the view; r1 still asked to join the
      // view before, r2 (left out) to join the new one, both joining: nobody was a member that could start a view
      // change, though r1 and r2 were a majority of the configuration and r2 held the newest state.
      this.joiningSince ??= now
      const waited = now - this.joiningSince >= this.options.viewChangeTimeoutMs
      const holdsState = this.stateView !== undefined && host.repliesWaitForMajority()
      this.viewChange.tick(holdsState && waited, this.coordinatorConfiguration() ?? this.configuration)
      return
    }
    this.joiningSince = undefined
    if (status === 'recovering') {
      const disk = this.disk!
      if (askDue) this.ask({ kind: 'recover', view: disk.view, position: disk.position, incarnation: host.incarnation })
      // A live cluster brings it back; failing that (a whole cluster restarted), the recovering replicas agree
      // among themselves on the view that resumes it, after giving the live cluster a view-change timeout.
      this.viewChange.tick(now - disk.since >= this.options.viewChangeTimeoutMs, this.configuration)
      return
    }
    for (const [replica, join] of this.freshJoins) {
      if (now - join.since < this.options.viewChangeTimeoutMs && host.view().id === host.initialView.id) continue
      this.freshJoins.delete(replica)
      this.asks.askedToJoin(replica, join.incarnation, 'join', host.view())
    }
    // A replica waiting to be added asks every half view-change timeout: one silent for six of those has stopped.
    this.asks.expire(JOIN_EXPIRES_AFTER_TIMEOUTS * this.options.viewChangeTimeoutMs)
    const suspects = this.detector.suspects(now)
    const unheard = this.unheardOutside(now)
    // Serving the initial view it started without state, it names the fresh peers it had heard (see `ClusterStart`)
    // while nothing is delivered: the initial view delivers a request only once every member holds it, so after
    // that a member still fresh with a run named here is one that ran in this view and restarted.
    this.sendHeartbeat(this.detector.heartbeatsDue(now), unheard.length > 0 ? [...suspects, ...unheard] : suspects)
    // A retry may complete the transfer (the state whole and confirmed by then): like a chunk, only while this
    // replica may take the state (`mayTakeState`). Found (sweep grid forming, seed 25300059: real time, kv, 7
    // replicas, memory storage): r5, waiting for view 52's state, promised in the change to view 53 holding its old
    // state of view 48 at 160 and coordinated it; then a retry completed the transfer of view 52's state at 180, r5
    // served, and its report made the fourth of seven that released replies at 161; view 53, chosen from promises
    // none of which held view 52's order, resumed at 160 and put another request at 161.
    if (status === 'transferring' && askDue && this.mayTakeState()) {
      this.lastAskedAt = now
      this.catchUp.retry(this.currentConfiguration, this.committed)
    }
    // A view change is needed when a majority suspects a member, there is membership work, or one is stuck
    // half-way. A member still waiting for the view's state takes part only when a member is suspected (the
    // one that was to send the state may be gone for good, and it holds part of the cluster's state itself).
    const members = host.view().members
    // In a view of two, the one other member is all that can suspect: its suspicion is enough (the view change
    // still needs a majority of the configuration). Found: r2 crashed in view {r2, r3}; r3, taking the state from
    // it, never counted two suspicions and waited for ever, while r1 and r3 were a majority.
    const suspicionsNeeded = Math.min(majorityOf(members.length), members.length - 1)
    const suspectedByMajority = members.some((m) => m !== host.self && this.detector.suspicionCount(m, suspects) >= suspicionsNeeded)
    // A member this replica could not send to (a full link) misses part of the view's order stream for good:
    // only a new view (fresh streams, with it or without it) can go on.
    // A view change that kept every member could not help a cut it was for (one that leaves an end out would take
    // fewer than a majority of the configuration along: see `proposeNextView`): the next one for the same cause
    // waits a view-change timeout. Found: a cluster of five with three members left, two of them cut apart, changed
    // its view every 5 ms while the cut lasted.
    const retrying = this.viewEntered !== undefined && this.viewEntered.sameMembers && now - this.viewEntered.at < this.options.viewChangeTimeoutMs
    const cutOff = status === 'normal' && host.ordererCutOff() && !retrying
    // A member waiting for the state that promised in a later view change takes no state until that one ends
    // (`mayTakeState`): if its coordinator is gone, nobody else may find one needed, so it takes its turn too.
    const waitsForLaterView = status === 'transferring' && !this.mayTakeState()
    // A member this replica has not heard from, while it hears a majority of the view and its order waits: the link
    // between them is cut (one way or both), and each orderer waits for every member. Nobody else may suspect it (the
    // others hear it), so no majority ever will: it asks for the view change itself, which leaves out one end of
    // the cut (`proposeNextView`). It waits two heartbeats past the suspicion first, so that a member every replica
    // lost (a crash) goes by the majority's suspicion, with the usual turns, instead of each replica coordinating at
    // once. Found by the simulator's `cut` fault: no majority suspected either end of a link cut both ways, the
    // order stopped until the link filled (670 ms), and then views churned every 10 to 15 ms until the cut healed.
    // So does a replica a member reports it does not hear when that member hears less than a majority (every link
    // into it cut: it cannot ask itself, and everyone hears it); the view that follows keeps it, it never installs
    // that view, and the members suspect it then (`heardFrom`). Found: Lamport, seed 128, a wait of 1.4 s.
    const stalled =
      status === 'normal' &&
      !retrying &&
      !suspectedByMajority &&
      host.orderer.pendingCount() > 0 &&
      members.length - suspects.length >= majorityOf(members.length) &&
      (this.detector.suspects(now, this.options.suspectAfterMs + 2 * this.options.heartbeatMs).length > 0 || this.detector.deafMembers().length > 0)
    const membershipWork = this.asks.pending(members, this.configuration, (r) => unheard.includes(r) || this.detector.reportedByAnother(r))
    const needed = suspectedByMajority || waitsForLaterView || (status !== 'transferring' && (membershipWork || status === 'frozen' || cutOff || stalled))
    const candidates = members.filter((m) => m === host.self || (!suspects.includes(m) && !this.asks.joins.has(m)))
    // A full link is known to its sender alone: no other replica will find a view change needed, so waiting for
    // the turns of those ranked before it only stalls the view (its order stream has a hole) for up to a
    // view-change timeout per rank. It goes first. Found: r5 of five waited 600 ms for its turn after its link to
    // r3 filled (the simulator's settled-cluster check, voting-simulator seed 112). So does a replica whose order
    // waits on a member only it cannot hear.
    const ranked = (cutOff || stalled) && !suspectedByMajority ? [host.self, ...candidates.filter((m) => m !== host.self)] : candidates
    // Its view works: it serves, hears every member, and needs no view change but for membership work (a join, an
    // operator's command), which its members carry out themselves.
    this.viewWorks = status === 'normal' && suspects.length === 0 && !suspectedByMajority && !cutOff && !stalled
    this.viewChange.tick(needed, ranked)
  }

  /**
   * A member whose view works (it serves, hears every member, and needs no view change but for membership work)
   * leaves a prepare unanswered from a replica outside the view that a member does not hear: the members admit it
   * themselves once each of them hears it, and a promise would freeze a view that works for a view change that
   * cannot end while that member does not hear it. Found by
   * the simulator's `cut` fault (realtime, seed 14): r1, left out because r2 could not hear it and holding a
   * state, started view changes of its own after waiting a view-change timeout (as a replica outside a view that
   * holds a state does, for when no live cluster is left); r3 promised each one, its promises were held by a cut
   * of its own link to r1, and the view {r2, r3} stood frozen for 1.3 s while r1's ballots, every 200 ms, kept r3
   * from taking its turn.
   */
  private ignoresPrepare(coordinator: ReplicaId, view: number): boolean {
    const { host } = this
    // A promise to a replica this one cannot send to (its link full) would be lost: promising would only freeze
    // this replica and let that coordinator's ballots outrank the ones that can finish. Whether the link takes
    // messages again is tried first, with a heartbeat (the mark of a member lasts the view). Found by the
    // simulator's `cut` fault (Lamport, seed 156): r1's link to r3 filled and r1 coordinated; r3, which did not hear
    // r1, coordinated too, with ballots that outranked r1's; r1 promised each (its promises lost), its own ballots
    // failed, and the view waited 550 ms until the cut between r3 and r2 healed.
    // A coordinator that says it does not hear this replica, and hears less than a majority of the configuration,
    // gets no promise it could use and no majority: its ballots, one every view-change timeout, would each freeze this
    // replica and put off its own turn by as long, for as long as the coordinator stays deaf (its view changes fail,
    // so it tries again). Found by the simulator's `cut` fault (Lamport, seed 144): in view {r2, r3}, r1 outside,
    // every link into r2 was cut while r2 could send; r2 coordinated every 200 ms, r3 promised each time and the view
    // stood frozen until r2's link to r3 was cut too, 1 s later (in the scenario, for as long as the cut lasted).
    // Its first ballot of a view number is answered: messages held by a partition arrive late and together, the
    // report that the coordinator heard nobody with its prepare, when it may hear everyone again by now (the
    // scenario competing-coordinators); a later ballot of the same view number, when the coordinator still says it
    // is deaf, is not, and does not put this replica's own turn to coordinate off.
    if (coordinator !== host.self) {
      const repeated = this.preparedBy.get(coordinator) === view
      this.preparedBy.set(coordinator, view)
      if (repeated && this.detector.deafTo(coordinator, host.clock.now(), this.configuration)) {
        return this.leaveUnanswered(coordinator, view, `'${coordinator}' tries again while it reports it does not hear '${host.self}' and hears less than a majority of ${this.configuration.join(', ')}`)
      }
    }
    if (coordinator !== host.self && this.detector.cannotSendTo(coordinator)) {
      const failed = this.detector.failedSends(coordinator)
      host.send(coordinator, { kind: 'heartbeat', view: host.view().id, suspects: this.reportedSuspects(host.clock.now()) })
      if (this.detector.failedSends(coordinator) > failed) return true
    }
    if (host.status() !== 'normal' || host.isMember(coordinator) || !this.viewWorks || this.detector.suspects(host.clock.now()).length > 0) return false
    // Only one whose join waits because a member does not hear it: any other is added by the members at once.
    if (!this.detector.isUnheard(coordinator, host.clock.now()) && !this.detector.reportedByAnother(coordinator)) return false
    return this.leaveUnanswered(coordinator, view, `'${coordinator}' is outside view ${host.view().id}, which works; the members add a replica that asks to join once each of them hears it`)
  }

  /** Says (once per coordinator and view number) why a prepare goes unanswered; true. */
  private leaveUnanswered(coordinator: ReplicaId, view: number, why: string): true {
    if (this.ignoredPrepare?.coordinator !== coordinator || this.ignoredPrepare.view !== view) {
      this.ignoredPrepare = { coordinator, view }
      this.host.log.info(`replica '${this.host.self}' leaves the view change to view ${view} by '${coordinator}' unanswered: ${why}`)
    }
    return true
  }

  /** A replica restarted from its disk (holding `view` and `position`, its votes and the view's value): it waits to be brought back. */
  recovering(votes: AcceptorState | undefined, commit: ViewValue | undefined, damaged?: { readonly position: number }): void {
    const { host } = this
    // The value of its disk's view: it can tell replicas that missed that view (its coordinator may have been
    // this replica, gone before the commit reached anyone).
    if (commit?.view.id === host.view().id) this.lastCommit = commit
    // The replicas an operator removed stay refused: the disk's view value names them.
    this.asks.restoreChanges(commit?.view.id === host.view().id ? commit : undefined)
    this.disk = { view: host.view(), position: damaged?.position ?? host.requests.replicated.position, since: host.clock.now(), damaged: damaged !== undefined }
    if (damaged) this.damagedClaim = { view: host.view(), position: damaged.position }
    this.fromDisk = true
    this.knownView = Math.max(this.knownView, host.view().id)
    this.start.ended()
    // Every vote it sent was on its disk first (the host holds a vote until it is synced), so what the disk
    // holds is all it ever voted: it may vote at once, in any view change.
    if (votes) this.viewChange.restoreVotes(votes)
    // The value chosen for the view before its last vote: maybe no replica has that view on its disk (those that
    // installed it lost theirs), yet the next view change must end it, with its configuration.
    if (votes?.previous) this.learnedChosen(votes.previous)
    this.votesFrom = 0
    host.transitionTo('recovering')
    this.lastAskedAt = -Infinity
  }

  /** A value chosen for a view newer than any this replica knows the value of: it can pass it on and coordinate after it. */
  private learnedChosen(value: ViewValue): void {
    this.asks.dropStale(value)
    this.knownView = Math.max(this.knownView, value.view.id)
    if (!this.knownValue || value.view.id > this.knownValue.view.id) this.knownValue = value
  }

  /** The configured replicas (from the disk's view records) when restarting: the quorum of the next view change. */
  restoreConfiguration(configuration: readonly ReplicaId[]): void {
    this.configuration = [...configuration].sort()
    this.configurationView = this.host.view().id
  }

  /**
   * False once this replica promised in a view change after its view: what it promised to hold must stay so (a
   * live member freezes; one waiting for the state stops taking it), or the chosen view could leave out what it
   * took and then helped a majority hold.
   */
  mayTakeState(): boolean {
    return !this.viewChange.votedAfter(this.host.view().id)
  }

  /** The value of the view this replica installed last. */
  get committed(): ViewValue | undefined {
    return this.lastCommit
  }

  private sendHeartbeat(to: readonly ReplicaId[], suspects: readonly ReplicaId[]): void {
    const { host } = this
    if (to.length === 0) return
    const started = host.view().id === host.initialView.id && host.requests.replicated.position === 0 ? this.start.startedKnowing : undefined
    const silent = this.detector.silent(host.clock.now(), this.configuration)
    const heartbeat: PeerMessageOf<'heartbeat'> = { kind: 'heartbeat', view: host.view().id, suspects, ...(started && { started }), ...(silent.length > 0 && { silent }) }
    for (const member of to) host.send(member, heartbeat)
  }

  /**
   * A message came from `from`. A replica outside the view that this one could not send to gets a probe: a
   * heartbeat (which a replica outside a view ignores) tells whether its link takes messages again. One this
   * replica reported unheard and now hears (or reaches) is reported heard at once, in a heartbeat to the members
   * out of turn: the members let a replica asking to join in once none of them reports it unheard, and would
   * otherwise wait a heartbeat for it.
   */
  heardFrom(from: ReplicaId, message: PeerMessage): void {
    const { host } = this
    // A member is heard in its view only by what shows it there: one whose messages say it is behind (it never got
    // the commit of the view) serves no part of the view's order, which waits for it. Found
    // by the simulator's `cut` fault (Lamport, seed 128): every link into r3 cut, r3 stayed frozen in view 1 and
    // the others' view 2 kept it, since its heartbeats and ballots of view 1 came through; the order waited 1.4 s
    // until their links to r3 filled.
    if (host.isMember(from) && this.showsBehind(message)) return
    const now = host.clock.now()
    const wasUnheard = this.detector.isUnheard(from, now)
    this.detector.heard(from, now)
    // Found: a replica restarted from its disk, whose link had filled while it was down and cut off, was never
    // brought back (nothing probed the link).
    if (!host.isMember(from) && this.detector.probe(from)) host.send(from, { kind: 'heartbeat', view: host.view().id, suspects: [] })
    if (!wasUnheard || this.detector.isUnheard(from, now)) return
    const status = host.status()
    if (status !== 'normal' && status !== 'frozen' && status !== 'transferring') return
    this.sendHeartbeat(host.view().members.filter((m) => m !== host.self), this.reportedSuspects(host.clock.now()))
  }

  /**
   * Whom this replica reports it has not heard from (in heartbeats and promises): members it suspects, and replicas
   * outside the view it has not heard from since they left it silent or unreachable (`FailureDetector.unheard`).
   */
  private reportedSuspects(now: number): ReplicaId[] {
    const unheard = this.unheardOutside(now)
    const suspects = this.detector.suspects(now)
    return unheard.length > 0 ? [...suspects, ...unheard] : suspects
  }

  /** The configured replicas outside the view this one counts unheard (`FailureDetector.unheard`; an operator's removal is not reported for ever). */
  private unheardOutside(now: number): ReplicaId[] {
    const unheard = this.detector.unheard(now)
    return unheard.length === 0 ? unheard : unheard.filter((r) => this.configuration.includes(r))
  }

  /** The replicas whose majority decides the next view change. */
  get currentConfiguration(): readonly ReplicaId[] {
    return this.configuration
  }

  /**
   * The configuration of the view this replica is in, or joins, with the id of the view it is from: the current
   * view's once installed; while it joins a newer view it learned of by that view's chosen value, that value's; told
   * only that it was left out of a newer view (`removed`), the configuration it had, named by its older view's id.
   */
  get viewConfiguration(): { readonly view: number; readonly replicas: readonly ReplicaId[] } {
    const view = this.host.view().id
    const known = this.knownValue
    if (view !== this.configurationView && known?.view.id === view) return { view, replicas: [...known.configuration].sort() }
    return { view: this.configurationView, replicas: this.configuration }
  }

  /** True while this replica started without state and may still start a new cluster. */
  get isFresh(): boolean {
    return this.start.isFresh
  }

  /** This replica lost a state it had (a damaged disk): it may only be added by a running cluster, never start one. */
  neverStartCluster(): void {
    this.start.ended()
  }

  /** True if `message`, from a member, shows its sender behind this replica's view (see `heardFrom`). */
  private showsBehind(message: PeerMessage): boolean {
    const view = this.host.view().id
    switch (message.kind) {
      case 'heartbeat':
      case 'orderer':
        return message.view < view
      case 'prepare':
      case 'promise':
      case 'accept':
      case 'accepted':
        return message.view <= view
      default:
        return false
    }
  }

  /** A message arrived (see `ClusterStart.noteMessage`). */
  noteMessage(from: ReplicaId, message: PeerMessage): void {
    this.start.noteMessage(from, message)
  }

  onHeartbeat(from: ReplicaId, m: PeerMessageOf<'heartbeat'>): void {
    const view = this.host.view()
    if (this.host.status() === 'joining' || this.host.status() === 'recovering') return
    // It serves in the initial view: it started the new cluster by itself.
    if (m.view === this.host.initialView.id) this.freshJoins.delete(from)
    if (m.view === view.id && this.host.isMember(from)) {
      this.detector.reported(from, m.suspects)
      this.detector.reportedSilent(from, m.silent ?? [], this.host.clock.now())
    }
    else if (m.view > view.id) this.host.send(from, { kind: 'query', view: m.view })
    else if (m.view < view.id) this.host.send(from, this.lastCommit && this.host.isMember(from) ? { kind: 'commit', value: this.lastCommit } : { kind: 'removed', view })
  }

  onQuery(from: ReplicaId, m: PeerMessageOf<'query'>): void {
    const chosen = this.newestChosen()
    if (chosen && m.view <= chosen.view.id) this.host.send(from, { kind: 'commit', value: chosen })
  }

  onRemoved(m: PeerMessageOf<'removed'>): void {
    this.knownView = Math.max(this.knownView, m.view.id)
    if (this.host.status() === 'recovering') return
    if (m.view.id > this.host.view().id && !m.view.members.includes(this.host.self)) this.leave(m.view)
  }

  onJoin(from: ReplicaId, m: PeerMessageOf<'join'>): void {
    const { host } = this
    const status = host.status()
    if (status === 'joining' || status === 'recovering') {
      // A fresh peer heard for the first time gets this replica's join at once, naming it: the two confirm each other.
      if (this.start.joinedWhileOutside(from, m) && this.leftView === undefined && this.namedWithoutState() === undefined) host.send(from, this.joinMessage())
      this.maybeStartCluster()
      return
    }
    // A replica that started without state joins by a view change, a late member of the initial view too: it
    // may have run before and lost what the others count on (its orderer's promises, its acknowledgements).
    // A fresh member of the initial view may also just be starting the new cluster by itself, a moment after
    // this one: it gets a view-change timeout to show up in the view before the view change adds it.
    if (m.started) return
    if (m.fresh && host.view().id === host.initialView.id && host.initialView.members.includes(from)) {
      const seen = this.freshJoins.get(from)
      if (seen?.incarnation !== m.incarnation) this.freshJoins.set(from, { incarnation: m.incarnation, since: host.clock.now() })
      return
    }
    this.asks.askedToJoin(from, m.incarnation, 'join', host.view(), m.leftView)
  }

  /** A replica restarted from its disk: a live replica has it brought back by the next view change. */
  onRecover(from: ReplicaId, m: PeerMessageOf<'recover'>): void {
    const status = this.host.status()
    if (status === 'normal' || status === 'frozen') this.asks.askedToJoin(from, m.incarnation, 'recover', this.host.view())
  }

  /** Installs a chosen view (`commit`): the flush delivers the old view's agreed end, then the new view starts. */
  install(value: ViewValue): void {
    const { host } = this
    const status = host.status()
    const current = host.view()
    this.knownView = Math.max(this.knownView, value.view.id)
    if (!this.knownValue || value.view.id > this.knownValue.view.id) this.knownValue = value
    this.asks.dropStale(value)
    if (value.view.id <= current.id) return
    // A replica outside a view (restarted, or removed) comes in only as the incarnation the view names: a view
    // naming an earlier run of it counted on acknowledgements, votes or a disk that this run does not have.
    if ((status === 'joining' || status === 'recovering') && value.incarnations[host.self] !== host.incarnation) return
    const isMember = value.view.members.includes(host.self)
    // A member frozen in its view that has since promised in the view change after this one said it holds its own
    // view's state as it froze it (see `holding`): that must stay so, so it does not end its view into this one by
    // itself and serve; like a replica too far behind, it waits for the state, and takes none until that view
    // change ends (`mayTakeState`).
    const promisedLater = this.viewChange.votedAfter(value.view.id) && this.claimsFrozenState(value.view.id + 1)
    const canFlush = value.view.id === current.id + 1 && isMember && !value.joining.includes(host.self) && value.boundary !== undefined && (status === 'normal' || status === 'frozen') && !promisedLater
    if (value.source === host.self) {
      host.orderer.viewChanged(value.view)
      this.startView(value)
    } else if (canFlush && host.endView(value.view, value.boundary)) {
      this.startView(value)
    } else if (isMember) {
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

  /** True from a restart from disk until the end of the event in which this replica serves again. */
  get restartedFromDisk(): boolean {
    return this.fromDisk
  }

  /** The end of an event: a replica restarted from its disk that serves again is an ordinary member from now on. */
  settle(): void {
    if (this.fromDisk && this.host.status() === 'normal') this.fromDisk = false
    if (this.damagedClaim && this.host.status() === 'normal') this.damagedClaim = undefined
  }

  /** What this replica holds of the view that view change `instance` ends (a live member freezes first). */
  private holding(instance: number): Holding {
    const { host } = this
    const status = host.status()
    if ((status === 'normal' || status === 'frozen') && instance === host.view().id + 1) return { kind: 'live', report: this.freeze() }
    if (status === 'recovering' && this.disk) return this.disk.damaged ? { kind: 'disk', view: this.disk.view, position: this.disk.position, damaged: true } : { kind: 'disk', view: this.disk.view, position: this.disk.position }
    // Restarted from a damaged disk and still without the cluster's state: what its disk held, marked damaged.
    if (this.damagedClaim && status !== 'normal' && status !== 'frozen') return { kind: 'disk', view: this.damagedClaim.view, position: this.damagedClaim.position, damaged: true }
    // Waiting for a view's state, or removed, it still holds the state of the view it last had (restarted from
    // its disk: the disk's), plus the part of the order it caught up with since, and everything it acknowledged
    // in this run: it counts like a disk when the replicas that were to send the state are gone too. One that
    // started without state holds nothing of its own (and its earlier runs' acknowledgements are lost).
    //
    // Only where replies wait for a majority. Without (memory storage), a view's one member with the state answers
    // what its flush delivers at once, while the members taking the state hold no part of it: two of them, a
    // majority, resumed the cluster from one's state of an older view, and acknowledged puts were gone (Found:
    // large-values.test.ts; joining-majority.test.ts). They hold nothing the cluster may resume from, and wait.
    if (this.stateView && (status === 'transferring' || status === 'joining') && host.repliesWaitForMajority()) return { kind: 'disk', view: this.stateView, position: host.requests.replicated.position }
    // So does a member frozen for an earlier view change whose value it never heard (that view was chosen and its
    // installers crashed or lost their disks): it holds its own view's state as it froze it. Found (semaphore spec,
    // 5 replicas, seed 25): counted as holding nothing, it left the replicas with states one short of a majority.
    if (this.claimsFrozenState(instance)) return { kind: 'disk', view: host.view(), position: host.requests.replicated.position }
    return { kind: 'none' }
  }

  /** True when, asked in view change `instance`, this replica promises its own view's state as it froze it (see `holding`). */
  private claimsFrozenState(instance: number): boolean {
    return this.host.status() === 'frozen' && instance > this.host.view().id + 1 && this.host.repliesWaitForMajority()
  }

  /** The configuration of the view a coordinator would end, when this replica knows it: a live member, or one restarted from the newest disk it heard of. */
  private coordinatorConfiguration(): readonly ReplicaId[] | undefined {
    return this.endingView(this.knownView + 1)?.configuration
  }

  /**
   * The view that view change `instance` ends (numbered `instance - 1`) and its configuration, when this replica
   * knows them: a live member's own view; for a replica restarted from its disk, its disk's view, or a chosen
   * view no live replica installed (the whole cluster went down during that view change).
   */
  private endingView(instance: number): { readonly view: View; readonly configuration: readonly ReplicaId[]; readonly changes: Readonly<Record<ReplicaId, number>> | undefined } | undefined {
    const status = this.host.status()
    if (instance !== this.knownView + 1) return undefined
    const own = { configuration: this.configuration, changes: this.asks.changes }
    if ((status === 'normal' || status === 'frozen' || status === 'transferring') && this.host.view().id === instance - 1) return { view: this.host.view(), ...own }
    if (status === 'joining') {
      // Left out of a view, or removed: the newest view it knows was chosen, with that view's configuration.
      const chosen = this.newestChosen()
      return chosen?.view.id === instance - 1 ? { view: chosen.view, configuration: chosen.configuration, changes: chosen.changes } : undefined
    }
    if (status !== 'recovering' || !this.disk) return undefined
    if (this.disk.view.id === instance - 1) return { view: this.disk.view, ...own }
    if (this.knownValue?.view.id === instance - 1) return { view: this.knownValue.view, configuration: this.knownValue.configuration, changes: this.knownValue.changes }
    return undefined
  }


  /** A fresh replica of the initial view starts a new cluster once a majority of the configuration is fresh too. */
  private maybeStartCluster(): void {
    const { host } = this
    if (host.status() !== 'joining' || !this.start.shouldStart(this.configuration, host.clock.now(), this.options.suspectAfterMs)) return
    host.orderer.viewChanged(host.initialView)
    this.startView(this.initialValue())
    host.replayFutureMessages()
  }

  private initialValue(): ViewValue {
    return { view: this.host.initialView, configuration: this.configuration, joining: [], incarnations: {}, boundary: undefined }
  }

  /** Starts serving in `value`'s view with the state at hand, which every joiner of the view takes. */
  private startView(value: ViewValue): void {
    const { host } = this
    // A replica that waited for a state and now resumes the cluster from its own (the source of a recovery
    // view) drops what it held of the view it never had the state of: those deliveries were not committed.
    this.catchUp.transfer.dropHeld()
    this.enterView(value, 'normal')
    this.catchUp.transfer.recordViewStart(value.view.id, host.requests.replicated.image())
    host.effects.viewInstalled?.(value.view, host.requests.replicated.position, this.configuration, value)
    host.log.info(`replica '${host.self}' installed view ${value.view.id}: ${value.view.members.join(', ')} at position ${host.requests.replicated.position}`)
    host.repeatDurableReport()
    host.requests.resubmitHeld()
  }

  /** Orders in `value`'s view, holding what it delivers, until the state at the view's start arrives. */
  private awaitState(value: ViewValue): void {
    this.keepStateView()
    this.enterView(value, 'transferring')
    this.catchUp.transfer.dropHeld()
    this.lastAskedAt = this.host.clock.now()
    this.catchUp.begin(this.lastCommit)
  }

  private enterView(value: ViewValue, status: 'normal' | 'transferring'): void {
    const before = this.host.view().members
    this.viewEntered = { at: this.host.clock.now(), sameMembers: before.length === value.view.members.length && before.every((m) => value.view.members.includes(m)) }
    this.host.transitionTo(status, value.view)
    this.lastCommit = value
    this.knownView = Math.max(this.knownView, value.view.id)
    this.votesFrom = Math.min(this.votesFrom, value.view.id + 1)
    this.start.ended()
    this.disk = undefined
    this.leftView = undefined
    this.configuration = [...value.configuration].sort()
    this.configurationView = value.view.id
    for (const replica of value.configuration) this.host.replicas.add(replica)
    this.frozenReport = undefined
    this.viewChange.reset()
    this.asks.installed(value)
    this.host.forgetDurable(value.joining)
    this.host.requests.forgetInFlight()
    this.detector.watch(value.view.members, this.host.clock.now())
  }

  /**
   * This replica's order can no longer be trusted (its orderer lost its guarantee): it stops serving at once
   * and asks to be added back as a joiner, holding nothing it could vouch for in a view change (its state may
   * lack a request the others delivered), so it takes the state by transfer. Its votes stay: they are on record.
   * False if it serves nothing already (waiting to join, recovering). With `stateWrong` (its state digest differed
   * from a majority's, or its orderer lost its guarantee), it takes the whole state, never just the order after its own.
   */
  discardState(options: { readonly stateWrong?: boolean } = {}): boolean {
    const { host } = this
    const status = host.status()
    if (status !== 'normal' && status !== 'frozen' && status !== 'transferring') return false
    if (options.stateWrong) this.catchUp.distrustOwnState()
    if (status === 'normal') host.orderer.freeze()
    this.stateView = undefined
    this.damagedClaim = undefined
    this.leftView = host.view().id
    host.transitionTo('joining', host.view())
    host.requests.dropAll()
    this.catchUp.transfer.dropHeld()
    this.viewChange.reset()
    this.lastAskedAt = -Infinity
    return true
  }

  /** This replica is not a member any more: stop serving and ask to be added back. */
  private leave(view: View): void {
    const { host } = this
    if (host.status() === 'joining' && view.id <= host.view().id) return
    host.log.warn(`replica '${host.self}' is not a member of view ${view.id} (${view.members.join(', ')}); it rejoins by state transfer`)
    if (host.status() === 'normal') host.orderer.freeze()
    // What it delivered and did not get onto a majority's disks may not be the cluster's: no reply for it.
    host.dropHeldReplies()
    this.keepStateView()
    host.transitionTo('joining', view)
    host.requests.dropAll()
    this.catchUp.transfer.dropHeld()
    this.viewChange.reset()
    this.lastAskedAt = -Infinity
  }

  /**
   * The newest value this replica knows was chosen: the one it installed last, or a newer one it learned of but
   * could not install (restarting). Passing it on lets replicas that missed its commit install it.
   */
  private newestChosen(): ViewValue | undefined {
    const installed = this.lastCommit
    return this.knownValue && (!installed || this.knownValue.view.id > installed.view.id) ? this.knownValue : installed
  }

  /** Leaving its view without the next one's state: remembers which view's state it holds (see `stateView`). */
  private keepStateView(): void {
    const status = this.host.status()
    if (status === 'normal' || status === 'frozen') this.stateView = this.host.view()
    else if (status === 'recovering' && this.disk && !this.disk.damaged) this.stateView = this.disk.view
  }

  /**
   * The newest chosen view this replica learned of that names it as a plain member though it could not install
   * it (that view counts on an earlier run of it, or admitted it under another incarnation): undefined if none.
   * Its joins then say it holds no state of that view (`leftView`), like a member that gave its state up, or the
   * others take them for late messages of the run they admitted: incarnations are start times, and a clock held
   * still or set back across a restart (amnesia) gives the new run the same incarnation as the admitted one, or
   * an older one. Without this the cluster keeps the run as a member it waits for, and never adds it back.
   */
  private namedWithoutState(): number | undefined {
    const known = this.knownValue
    if (!known || known.view.id <= this.host.view().id || !known.view.members.includes(this.host.self)) return undefined
    return known.view.id
  }

  /** This replica's plain join: fresh or not, and while fresh, the fresh peers it heard (see `ClusterStart`). */
  private joinMessage(): PeerMessageOf<'join'> {
    const { host } = this
    if (!this.start.isFresh) return { kind: 'join', incarnation: host.incarnation, fresh: false }
    const knows = this.start.knows()
    return Object.keys(knows).length === 0 ? { kind: 'join', incarnation: host.incarnation, fresh: true } : { kind: 'join', incarnation: host.incarnation, fresh: true, knows }
  }

  private ask(message: PeerMessage): void {
    this.lastAskedAt = this.host.clock.now()
    for (const replica of this.host.replicas) if (replica !== this.host.self) this.host.send(replica, message)
  }
}
