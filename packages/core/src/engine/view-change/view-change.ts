import type { Clock, Logger, ReplicaId } from '@lockstep/interface'
import type { Holding, PeerMessage, PeerMessageOf, PromiseMessage, ViewValue } from '../peer-messages'
import { Acceptor, type AcceptorState } from './acceptor'
import { Coordination, coordinatorTurnDue, highestAccepted } from './coordinator'
import { majorityOf } from './quorum'

/** What the view change needs from the engine around it. */
/** How many times a view change's timeout doubles at most, on late promises (×8). */
const MAX_BACKOFF_DOUBLINGS = 3

export interface ViewChangeEnvironment {
  readonly self: ReplicaId
  /** This process's incarnation, named in its promises. */
  readonly incarnation: number
  readonly clock: Clock
  readonly log: Logger
  /** A coordinator that has not finished after this long is taken over by the next. */
  readonly timeoutMs: number
  /** The newest view number this replica knows to be decided. */
  knownView(): number
  /** The lowest view number this replica may vote for: its votes in earlier ones may be lost (it restarted without them). */
  votesFrom(): number
  /** The configured replicas (the acceptors) of the view the change ends, if this replica knows them well enough to coordinate. */
  configuration(): readonly ReplicaId[] | undefined
  /** The newest value this replica knows was chosen: re-sent to a coordinator of a view number already taken. */
  lastCommit(): ViewValue | undefined
  send(to: ReplicaId, message: PeerMessage): void
  /** Makes the acceptor's votes durable (with storage) before the message that follows them goes out. */
  persistVotes(state: AcceptorState): void
  /** What this replica holds of the view view `instance` ends; a live member stops ordering in it (freezes) first. */
  promiseHolding(instance: number): Holding
  /** This replica accepted a value for view `instance`: a live member stops ordering. */
  acceptedValue(instance: number): void
  /** Members this replica suspects now. */
  suspects(): ReplicaId[]
  /** The value to propose for view change `instance` when no promiser accepted one; undefined to wait for more promises. */
  propose(instance: number, promises: ReadonlyMap<ReplicaId, PromiseMessage>): ViewValue | undefined
  /** A newer view was named by another replica (a refusal): a replica without a view may number its attempts after it. */
  heardOfView(view: number): void
  /** A coordinator said which value was chosen for a view (its prepare or accept): this replica knows it from now on. */
  learnedChosen(value: ViewValue): void
  /**
   * True if `coordinator` is a replica an operator removed (its view names it, see `ViewValue.removed`): this replica
   * votes in none of its view changes, and tells it it is out. (The environment sends the refusal.)
   */
  refusesCoordinator(coordinator: ReplicaId): boolean
  /**
   * True if this replica lets a prepare from `coordinator` go unanswered (Paxos lets an acceptor ignore any): a
   * member whose view works ignores a replica outside it that asks for a view change (see `Membership`).
   */
  ignoresPrepare?(coordinator: ReplicaId, view: number): boolean
}

/**
 * The view change: single-decree Paxos per view number, whose value is the
 * next view (members, configuration, joiners) plus the orderer's agreed
 * boundary of the old one. The acceptors are the *configured* replicas, so a
 * majority of the configuration decides even when the current view has
 * shrunk. A replica that may have forgotten votes (restarted without its
 * disk) does not vote until it has rejoined. The one whose turn it is
 * coordinates: prepare, promise (with what each holds), accept, accepted,
 * commit; a higher ballot always wins, and coordinators take turns
 * (`coordinatorTurnDue`) so they do not duel.
 */
export class ViewChange {
  private readonly env: ViewChangeEnvironment
  private readonly acceptor = new Acceptor()
  private coordination: Coordination | undefined
  private highestRound = 0
  /** Since when a view change has been needed. */
  private neededSince: number | undefined
  /** When this replica last saw another coordinator at work (a prepare or an accept). */
  private lastSeenAtWork = -Infinity
  /** Attempts this replica made at coordinating the current view number. */
  private attempts = 0
  /** When this replica first tried to coordinate the current view number, and last said at error level that it cannot. */
  private firstAttemptAt = 0
  private errorSaidAt = -Infinity
  /**
   * How many times this replica's view-change timeout doubled for view number `view` (see `retryTimeoutMs`): once
   * for each of its ballots whose promise came back only after it had moved on to a later ballot.
   */
  private backoff = { view: 0, doublings: 0, lateBallot: 0 }

  /** The view number a missing configuration was reported for (see `start`). */
  private silentFor: number | undefined

  constructor(env: ViewChangeEnvironment) {
    this.env = env
  }

  /** True if this replica voted (promised or accepted) in a view change after view `view`. */
  votedAfter(view: number): boolean {
    return this.acceptor.promised !== null && this.acceptor.state.instance > view
  }

  /** The view this replica coordinates a change to, if any. */
  get coordinating(): number | undefined {
    return this.coordination?.view
  }

  /** The acceptor's votes, for persistence. */
  get votes(): AcceptorState {
    return this.acceptor.state
  }

  /** Takes back votes read from a disk. */
  restoreVotes(state: AcceptorState): void {
    this.acceptor.restore(state)
  }

  /**
   * Called on every tick: when a view change is `needed` and it is this replica's turn among `candidates`
   * (see `coordinatorTurnDue`), it starts one as coordinator.
   */
  tick(needed: boolean, candidates: readonly ReplicaId[]): void {
    if (!needed) {
      this.neededSince = undefined
      return
    }
    const now = this.env.clock.now()
    this.neededSince ??= now
    if (this.coordination && this.coordination.view <= this.env.knownView()) this.coordination = undefined
    const lastActivity = Math.max(this.coordination?.startedAt ?? -Infinity, this.lastSeenAtWork)
    const due = coordinatorTurnDue({ self: this.env.self, candidates, needSince: this.neededSince, lastActivity, timeoutMs: this.retryTimeoutMs(this.env.knownView() + 1) })
    if (due !== undefined && now >= due) this.start(now)
  }

  /**
   * The view-change timeout for view `view`: doubled (up to 8 times, `MAX_BACKOFF_DOUBLINGS`) each time a promise
   * for an earlier ballot of this replica's came back after it had started a later one. Every ballot costs a
   * round of messages that carry the old view's pending requests; when they take longer than the timeout to go
   * between the replicas (requests of megabytes, a loaded machine), a fixed timeout starts a new ballot before any
   * finishes, each one's messages queue behind the last one's on the links, and the view change never ends. A
   * late promise is the evidence: the timeout is shorter than a round trip. Ballots that fail because too few
   * replicas can answer (crashed, cut off, without state) bring no late promise and keep the timeout as it is
   * (a longer wait there only delays recovery: found by the world simulator, seed 5230).
   */
  private retryTimeoutMs(view: number): number {
    const doublings = this.backoff.view === view ? this.backoff.doublings : 0
    return this.env.timeoutMs * 2 ** doublings
  }

  /** A promise for this replica's ballot `round` of view `view` came after it had moved on: its timeout is short. */
  private latePromise(view: number, round: number): void {
    if (view > this.backoff.view) this.backoff = { view, doublings: 0, lateBallot: 0 }
    if (view !== this.backoff.view || round <= this.backoff.lateBallot) return // once per ballot
    this.backoff.lateBallot = round
    if (this.backoff.doublings < MAX_BACKOFF_DOUBLINGS) this.backoff.doublings++
  }

  /** Phase 1a: a ballot above any seen, sent to every configured replica. */
  private start(now: number): void {
    const configuration = this.env.configuration()
    if (!configuration) {
      // It knows a newer view was decided but not that view's configuration (its value reached no disk it
      // has): it cannot coordinate, and must say so instead of stalling silently. Once per view number.
      const view = this.env.knownView() + 1
      if (this.silentFor !== view) {
        this.silentFor = view
        this.env.log.warn(`replica '${this.env.self}' cannot coordinate a view change to view ${view}: it knows view ${view - 1} was decided but not its configuration; it waits for a replica that installed it (its commit)`)
      }
      return
    }
    this.highestRound = Math.max(this.highestRound, this.acceptor.promised?.round ?? 0) + 1
    const ballot = { round: this.highestRound, coordinator: this.env.self }
    const view = this.env.knownView() + 1
    const previous = this.coordination
    this.attempts = previous?.view === view ? this.attempts + 1 : 1
    if (this.attempts === 1) this.firstAttemptAt = now
    // Lasting: 20 timeouts since the first attempt (the attempts thin out as the timeout doubles), then again
    // every 20 timeouts.
    const lasting = 20 * this.env.timeoutMs
    const sayError = now - this.firstAttemptAt >= lasting && now - this.errorSaidAt >= lasting
    if (previous?.view === view && !previous.value && (this.attempts === 3 || sayError)) {
      // Say why the cluster does not serve: fewer than a majority of the configuration can vote. Once it has
      // lasted, it is an error: the service is down until the replicas named come back.
      const promised = [...previous.promises.keys()].sort()
      const holdings = [...previous.promises.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([id, p]) => `${id} ${describeHolding(p.holding)}`)
      const missing = configuration.filter((id) => !previous.promises.has(id))
      const damaged = [...previous.promises.values()].flatMap((p) => (p.holding.kind === 'disk' && p.holding.damaged ? [p.holding] : []))
      const needed =
        damaged.length === 0
          ? ''
          : `; damaged disks held the order up to position ${Math.max(...damaged.map((d) => d.position))} (view ${Math.max(...damaged.map((d) => d.view.id))}), so the state must come from an intact disk that holds as much`
      const line =
        `replica '${this.env.self}' cannot finish a view change to view ${view}: votes from ${promised.join(', ') || 'nobody'} of ${configuration.join(', ')}` +
        `${holdings.length > 0 ? ` (${holdings.join('; ')})` : ''}, and it needs a majority of them with a replica that holds the cluster's state ` +
        `(replicas restarted without their state vote only after they rejoin)${needed}; waiting for ${missing.join(', ') || 'a replica holding the state'}`
      if (sayError) {
        this.errorSaidAt = now
        this.env.log.error(line)
      } else this.env.log.warn(line)
    }
    this.coordination = new Coordination(view, ballot, now, configuration)
    this.env.log.info(`replica '${this.env.self}' starts a view change to view ${view} (ballot ${ballot.round})`)
    const chosen = this.chosenBefore(view)
    for (const replica of configuration) this.env.send(replica, { kind: 'prepare', view, ballot, ...(chosen ? { previous: chosen } : {}) })
  }

  /** The value chosen for view `view - 1`, if this replica knows it: what the change to `view` ends. */
  private chosenBefore(view: number): ViewValue | undefined {
    const chosen = this.env.lastCommit()
    return chosen?.view.id === view - 1 ? chosen : undefined
  }

  /** Phase 1b: promise the ballot (a live member freezes the old view first) unless a higher one was promised. */
  onPrepare(from: ReplicaId, m: PeerMessageOf<'prepare'>): void {
    if (this.refuseStale(from, m.view) || this.env.refusesCoordinator(from) || this.env.ignoresPrepare?.(from, m.view)) return
    this.highestRound = Math.max(this.highestRound, m.ballot.round)
    if (from !== this.env.self) this.lastSeenAtWork = this.env.clock.now()
    if (m.previous) this.env.learnedChosen(m.previous)
    const refusal = this.acceptor.prepare(m.view, m.ballot, m.previous ?? this.chosenBefore(m.view))
    if (refusal) return this.env.send(from, { kind: 'nack', view: m.view, ballot: refusal.promised, knownView: Math.max(this.env.knownView(), refusal.instance - 1) })
    this.env.persistVotes(this.acceptor.state)
    const holding = this.env.promiseHolding(m.view)
    const promise = { kind: 'promise', view: m.view, ballot: m.ballot, holding, suspects: this.env.suspects(), accepted: this.acceptor.accepted, incarnation: this.env.incarnation } as const
    this.env.send(from, promise)
  }

  /** Phase 2a, once a majority of the configuration promised: propose the highest accepted value, or a new one. */
  onPromise(from: ReplicaId, m: PeerMessageOf<'promise'>): void {
    const c = this.coordination
    if (c && m.view === c.view && m.ballot.coordinator === this.env.self && m.ballot.round < c.ballot.round) this.latePromise(m.view, m.ballot.round)
    if (!c || !c.isFor(m.view, m.ballot) || c.value || !c.configuration.includes(from)) return
    c.promises.set(from, m)
    if (c.promises.size < majorityOf(c.configuration.length)) return
    c.value = highestAccepted(c.promises.values())?.value ?? this.env.propose(c.view, c.promises)
    if (!c.value) return // more promises are needed (none of these holds the old view's state yet)
    const previous = this.chosenBefore(c.view)
    for (const replica of c.configuration) this.env.send(replica, { kind: 'accept', view: c.view, ballot: c.ballot, value: c.value, ...(previous ? { previous } : {}) })
  }

  /** A refusal: a higher ballot or a later view change is at work; this coordinator steps back. */
  onNack(m: PeerMessageOf<'nack'>): void {
    this.highestRound = Math.max(this.highestRound, m.ballot?.round ?? 0)
    this.env.heardOfView(m.knownView)
    const c = this.coordination
    if (c?.view !== m.view) return
    if (m.knownView >= c.view || (m.ballot && !c.isFor(m.view, m.ballot))) this.coordination = undefined
  }

  /** Phase 2b: accept the value unless a higher ballot was promised. */
  onAccept(from: ReplicaId, m: PeerMessageOf<'accept'>): void {
    if (this.refuseStale(from, m.view) || this.env.refusesCoordinator(from)) return
    if (m.value.view.id !== m.view) {
      // View change N decides view N: a value numbered otherwise would be ignored where it is installed.
      this.env.log.error(`replica '${this.env.self}' refuses a value for view ${m.value.view.id} proposed by '${from}' in view change ${m.view}`)
      return
    }
    if (m.previous) this.env.learnedChosen(m.previous)
    const refusal = this.acceptor.accept(m.view, m.ballot, m.value, m.previous ?? this.chosenBefore(m.view))
    if (refusal) return this.env.send(from, { kind: 'nack', view: m.view, ballot: refusal.promised, knownView: Math.max(this.env.knownView(), refusal.instance - 1) })
    if (from !== this.env.self) this.lastSeenAtWork = this.env.clock.now()
    this.env.persistVotes(this.acceptor.state)
    this.env.acceptedValue(m.view)
    this.env.send(from, { kind: 'accepted', view: m.view, ballot: m.ballot })
  }

  /** The value is chosen once a majority of the configuration accepted it: commit it to everyone, old and new. */
  onAccepted(from: ReplicaId, m: PeerMessageOf<'accepted'>): void {
    const c = this.coordination
    if (!c || !c.value || !c.isFor(m.view, m.ballot) || !c.configuration.includes(from)) return
    c.accepts.add(from)
    if (c.accepts.size < majorityOf(c.configuration.length)) return
    const value = c.value
    this.coordination = undefined
    for (const replica of new Set([...c.configuration, ...value.configuration, ...value.view.members])) this.env.send(replica, { kind: 'commit', value })
  }

  /** A view was installed, or this replica left one: the coordination and the wait are over. */
  reset(): void {
    this.coordination = undefined
    this.neededSince = undefined
    this.lastSeenAtWork = -Infinity
    this.attempts = 0
  }

  /**
   * A prepare or accept for a view number this replica installed already gets the value of its view; one it
   * may not vote in (it could have forgotten votes there) gets nothing. True if handled so.
   */
  private refuseStale(from: ReplicaId, view: number): boolean {
    const known = this.env.knownView()
    const commit = this.env.lastCommit()
    if (view <= known && commit && commit.view.id >= view) {
      this.env.send(from, { kind: 'commit', value: commit })
      return true
    }
    // A view change this replica knows was decided but whose value it cannot send (it restarted from its disk,
    // or only heard of it): it votes as usual, so the coordinator learns the chosen value from a majority's
    // votes (Paxos: the value a majority accepted is proposed again). A refusal would leave those that missed
    // the commit without that view and unable to coordinate the next.
    return view < this.env.votesFrom()
  }
}

/** What a promise says it holds, for the log: `holds view 3 at position 60 on its disk`. */
function describeHolding(holding: Holding): string {
  if (holding.kind === 'disk' && holding.damaged) return `held view ${holding.view.id} up to position ${holding.position} on a damaged disk (the state cannot come from it)`
  if (holding.kind === 'disk') return `holds the state of view ${holding.view.id} at position ${holding.position}`
  if (holding.kind === 'live') return 'holds the live state'
  return 'holds no state'
}
