import type { Clock, Logger, ReplicaId, View } from '@lockstep/interface'
import type { PeerMessage, PeerMessageOf, PromiseMessage, ViewValue } from '../peer-messages'
import { Acceptor } from './acceptor'
import { Coordination, coordinatorTurnDue, highestAccepted } from './coordinator'

/** What the view change needs from the engine around it. */
export interface ViewChangeEnvironment {
  readonly self: ReplicaId
  readonly clock: Clock
  readonly log: Logger
  /** A coordinator that has not finished after this long is taken over by the next. */
  readonly timeoutMs: number
  view(): View
  /** True if `replica` is a member of the current view. */
  isMember(replica: ReplicaId): boolean
  /** True if this replica holds the current view's state, so it may vouch for it in a view change. */
  holdsViewState(): boolean
  /** True while this replica waits for the state at the start of its view (it cannot coordinate). */
  isTransferring(): boolean
  /** How many votes make a quorum. */
  quorum(): number
  send(to: ReplicaId, message: PeerMessage): void
  /** Stops ordering in the current view (once) and returns the orderer's report of what this replica holds. */
  freeze(): unknown
  /** Members this replica suspects now. */
  suspects(): ReplicaId[]
  /** The value of the last view installed here, re-sent to replicas behind. */
  lastCommit(): ViewValue | undefined
  /** The value to propose when no promiser accepted one: the next membership and the old view's boundary. */
  propose(promises: ReadonlyMap<ReplicaId, PromiseMessage>): ViewValue
}

/**
 * The view change: single-decree Paxos per view number, whose value is the
 * next view plus the orderer's agreed boundary of the old one. Each replica
 * is an acceptor; the one whose turn it is coordinates (phase 1: prepare and
 * promise; phase 2: accept and accepted; then commit). Coordinators take turns
 * (`coordinatorTurnDue`) so they do not duel; a higher ballot always wins.
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

  constructor(env: ViewChangeEnvironment) {
    this.env = env
  }

  /** True once this replica promised a ballot in the current view change. */
  get promised(): boolean {
    return this.acceptor.promised !== null
  }

  /** The view this replica coordinates a change to, if any. */
  get coordinating(): number | undefined {
    return this.coordination?.view
  }

  /**
   * Called on every tick: when a view change is `needed` and it is this replica's turn (see
   * `coordinatorTurnDue`), it starts one as coordinator.
   */
  tick(needed: boolean, suspects: readonly ReplicaId[], joinRequests: ReadonlyMap<ReplicaId, number>): void {
    if (!needed) {
      this.neededSince = undefined
      return
    }
    const now = this.env.clock.now()
    this.neededSince ??= now
    const lastActivity = Math.max(this.coordination?.startedAt ?? -Infinity, this.lastSeenAtWork)
    const due = coordinatorTurnDue({
      self: this.env.self,
      members: this.env.view().members,
      suspects,
      joinRequests,
      needSince: this.neededSince,
      lastActivity,
      timeoutMs: this.env.timeoutMs,
    })
    if (due !== undefined && now >= due) this.start(now)
  }

  /** Phase 1a: a ballot above any seen, sent to every member of the current view. */
  private start(now: number): void {
    this.highestRound = Math.max(this.highestRound, this.acceptor.promised?.round ?? 0) + 1
    const ballot = { round: this.highestRound, coordinator: this.env.self }
    const view = this.env.view().id + 1
    this.coordination = new Coordination(view, ballot, now)
    this.env.log.info(`replica '${this.env.self}' starts a view change to view ${view} (ballot ${ballot.round})`)
    for (const member of this.env.view().members) this.env.send(member, { kind: 'prepare', view, ballot })
  }

  /** Phase 1b: promise the ballot (freezing the old view) unless a higher one was promised. */
  onPrepare(from: ReplicaId, m: PeerMessageOf<'prepare'>): void {
    if (!this.env.holdsViewState() || !this.env.isMember(from)) return
    const current = this.env.view().id
    if (m.view !== current + 1) {
      const commit = this.env.lastCommit()
      if (m.view <= current && commit) this.env.send(from, { kind: 'commit', value: commit })
      return
    }
    this.highestRound = Math.max(this.highestRound, m.ballot.round)
    if (from !== this.env.self) this.lastSeenAtWork = this.env.clock.now()
    const refusal = this.acceptor.prepare(m.ballot)
    if (refusal) return this.env.send(from, { kind: 'nack', view: m.view, ballot: refusal })
    const report = this.env.freeze()
    this.env.send(from, { kind: 'promise', view: m.view, ballot: m.ballot, report, suspects: this.env.suspects(), accepted: this.acceptor.accepted })
  }

  /** Phase 2a, once a quorum promised: propose the highest accepted value, or a new one. */
  onPromise(from: ReplicaId, m: PeerMessageOf<'promise'>): void {
    const c = this.coordination
    if (!c || !c.isFor(m.view, m.ballot) || c.value) return
    if (!this.env.isMember(from) || this.env.isTransferring()) return
    c.promises.set(from, m)
    if (c.promises.size < this.env.quorum()) return
    c.value = highestAccepted(c.promises.values())?.value ?? this.env.propose(c.promises)
    for (const member of this.env.view().members) this.env.send(member, { kind: 'accept', view: c.view, ballot: c.ballot, value: c.value })
  }

  /** A refusal: a higher ballot is at work; this coordinator steps back. */
  onNack(m: PeerMessageOf<'nack'>): void {
    this.highestRound = Math.max(this.highestRound, m.ballot.round)
    if (this.coordination?.view === m.view && !this.coordination.isFor(m.view, m.ballot)) this.coordination = undefined
  }

  /** Phase 2b: accept the value unless a higher ballot was promised. */
  onAccept(from: ReplicaId, m: PeerMessageOf<'accept'>): void {
    if (!this.env.holdsViewState() || !this.env.isMember(from) || m.view !== this.env.view().id + 1) return
    const refusal = this.acceptor.accept(m.ballot, m.value)
    if (refusal) return this.env.send(from, { kind: 'nack', view: m.view, ballot: refusal })
    if (from !== this.env.self) this.lastSeenAtWork = this.env.clock.now()
    this.env.freeze()
    this.env.send(from, { kind: 'accepted', view: m.view, ballot: m.ballot })
  }

  /** The value is chosen once a quorum accepted it: commit it to everyone, old members and new. */
  onAccepted(from: ReplicaId, m: PeerMessageOf<'accepted'>): void {
    const c = this.coordination
    if (!c || !c.value || !c.isFor(m.view, m.ballot) || !this.env.isMember(from)) return
    c.accepts.add(from)
    if (c.accepts.size < this.env.quorum()) return
    const value = c.value
    this.coordination = undefined
    for (const replica of new Set([...this.env.view().members, ...value.view.members])) this.env.send(replica, { kind: 'commit', value })
  }

  /** A view was installed, or this replica left: this view change is over. */
  reset(): void {
    this.acceptor.reset()
    this.coordination = undefined
    this.neededSince = undefined
    this.lastSeenAtWork = -Infinity
  }
}
