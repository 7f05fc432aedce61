import type { ReplicaId } from '@lockstep/interface'
import { majorityOf } from './view-change/quorum'

/** Timing of failure detection. */
export interface FailureDetectorOptions {
  /** A replica writes to each member at least this often. */
  readonly heartbeatMs: number
  /** A member silent this long is suspected. */
  readonly suspectAfterMs: number
  /**
   * A replica outside the view that was heard and then silent this long counts as unheard (see `unheard`); a replica
   * waiting to be added asks every half view-change timeout. Default: never by silence alone.
   */
  readonly outsideSilentAfterMs?: number
}

/**
 * A pure failure detector (like TigerBeetle's `fault_detector.zig`): it is told
 * who was heard from and when, and what the other members suspect; it answers
 * whom this replica suspects, how many members suspect a replica, and to whom
 * a heartbeat is due. It never sends, never reads a clock: times come in as
 * arguments.
 *
 * Suspicion is per view: a new view starts with everyone heard from.
 */
export class FailureDetector {
  private readonly self: ReplicaId
  private readonly options: FailureDetectorOptions
  private members: readonly ReplicaId[] = []
  /** When each replica's last message came; a member counts as heard at the start of its view too (`viewStartedAt`). */
  private readonly lastMessage = new Map<ReplicaId, number>()
  private viewStartedAt = 0
  /**
   * Replicas outside the view that this one does not count as heard (see `unheard`): one that left the view silent
   * until its next message, one that left it unreachable (or could not be sent to since) until a send to it goes
   * through (see `probed`).
   */
  private readonly silenced = new Map<ReplicaId, 'silent' | 'unreachable'>()
  private readonly lastHeartbeatSent = new Map<ReplicaId, number>()
  /** What each member last said it suspects (from its heartbeats and promises). */
  private readonly reports = new Map<ReplicaId, readonly ReplicaId[]>()
  /** What each member last said it has not heard from for `suspectAfterMs`, and when (see `freshSilentOf`). */
  private readonly hearing = new Map<ReplicaId, { readonly at: number; readonly silent: readonly ReplicaId[] }>()
  /** Members the host could not send to: suspected until the next view. */
  private readonly unreachable = new Set<ReplicaId>()
  /** How many sends to each replica the host reported failed (see `failedSends`). */
  private readonly failures = new Map<ReplicaId, number>()

  constructor(self: ReplicaId, options: FailureDetectorOptions) {
    this.self = self
    this.options = options
  }

  /**
   * Starts watching the members of a new view: all count as heard from `now`; old suspicions are dropped. Replicas
   * outside the view keep the time they were last heard from (see `unheard`), and what the members that stay last
   * reported of them (see `reportedByAnother`): a replica some member could not hear waits outside until that
   * member reports hearing it. Found: the join of a replica the coordinator heard and another member did not was
   * left out of the view, and with that member's reports forgotten the coordinator started the next view change
   * at once, every 5 ms.
   */
  watch(members: readonly ReplicaId[], now: number): void {
    for (const m of this.members) {
      if (m === this.self || members.includes(m)) continue
      if (this.unreachable.has(m)) this.silenced.set(m, 'unreachable')
      else if (now - (this.lastMessage.get(m) ?? -Infinity) > this.options.suspectAfterMs) this.silenced.set(m, 'silent')
    }
    this.members = members
    this.viewStartedAt = now
    for (const [peer, suspects] of this.reports) {
      const outside = members.includes(peer) ? suspects.filter((r) => !members.includes(r)) : []
      if (outside.length > 0) this.reports.set(peer, outside)
      else this.reports.delete(peer)
    }
    this.hearing.clear()
    this.unreachable.clear()
  }

  /** A message arrived from `from` (a member, or a replica outside the view). */
  heard(from: ReplicaId, now: number): void {
    this.lastMessage.set(from, now)
    if (this.silenced.get(from) === 'silent') this.silenced.delete(from)
  }

  /** Member `from` reported whom it suspects. */
  reported(from: ReplicaId, suspects: readonly ReplicaId[]): void {
    this.reports.set(from, suspects)
  }

  /** Member `from` reported, at `now`, the replicas it has not heard from for `suspectAfterMs` (see `silent`). */
  reportedSilent(from: ReplicaId, silent: readonly ReplicaId[], now: number): void {
    this.hearing.set(from, { at: now, silent })
  }

  /**
   * The replicas of `among` (but this one) this replica has not heard from for longer than `suspectAfterMs`: a
   * member counts as heard at the start of its view, a replica outside it only by its messages. Unlike `suspects`,
   * hearing alone: a member this replica could not send to is not in it for that.
   */
  silent(now: number, among: readonly ReplicaId[]): ReplicaId[] {
    return among.filter((r) => r !== this.self && now - this.heardAt(r, this.members.includes(r)) > this.options.suspectAfterMs)
  }

  /** The link to `peer` failed; returns false if it was already marked. */
  markUnreachable(peer: ReplicaId): boolean {
    this.failures.set(peer, (this.failures.get(peer) ?? 0) + 1)
    if (!this.members.includes(peer)) this.silenced.set(peer, 'unreachable')
    if (this.unreachable.has(peer)) return false
    this.unreachable.add(peer)
    return true
  }

  /** Members this replica suspects: silent for longer than `limit` (default `suspectAfterMs`), or unreachable. */
  suspects(now: number, limit = this.options.suspectAfterMs): ReplicaId[] {
    return this.members.filter((m) => m !== this.self && (this.unreachable.has(m) || now - this.heardAt(m, true) > limit))
  }

  /** When `replica` was last heard here: a member counts as heard at the start of its view, one outside it only by its messages. */
  private heardAt(replica: ReplicaId, member: boolean): number {
    const last = this.lastMessage.get(replica) ?? -Infinity
    return member ? Math.max(last, this.viewStartedAt) : last
  }

  /**
   * The replicas outside the view that left it silent here and sent nothing since, or left it unreachable and took
   * no message since (see `probe`), and (with `outsideSilentAfterMs`) those heard here once and silent that long
   * since: one asking to join would stall the next view's order the moment it entered (see `Membership.tick`). A
   * replica never heard here is not counted unheard: were its link to this one cut, the view that admits it leaves
   * it out again (it is silent here), and from then on it counts. Found: counting a member left out for a cut link
   * as heard from the start of each view it was in, views alternated with it and without it every 25 ms. Found too
   * (real time, seed 146): an outsider that a member heard after it left and then stopped hearing, while another
   * member heard it, was reported by nobody; its ballots, which it could never finish, froze the view 1.9 s.
   */
  unheard(now: number): ReplicaId[] {
    return [...new Set([...this.silenced.keys(), ...this.lastMessage.keys()])].filter((r) => this.isUnheard(r, now)).sort()
  }

  /** How many members suspect `member`: this replica (from `ownSuspects`) and every other member that reported it. */
  suspicionCount(member: ReplicaId, ownSuspects: readonly ReplicaId[]): number {
    let count = ownSuspects.includes(member) ? 1 : 0
    // Keys, then get: no [key, value] array per report (this runs for every member at every tick).
    for (const peer of this.reports.keys()) if (peer !== member && this.members.includes(peer) && this.reports.get(peer)!.includes(member)) count++
    return count
  }

  /**
   * A replica outside the view that this one could not send to asked for something (to join): true if it is to be
   * probed, a message sent to it to learn whether its link takes messages again. Its mark is lifted first; a send
   * that fails puts it back (`markUnreachable`). Found: r1's link to r2 filled (cut one way), the view left r2 out,
   * and r2, which r1 still heard, came back at once; its link filled again, every 20 ms until the cut healed.
   */
  probe(replica: ReplicaId): boolean {
    if (this.silenced.get(replica) !== 'unreachable') return false
    this.silenced.delete(replica)
    return true
  }

  /** True if `replica` is outside the view and unheard here (see `unheard`). */
  isUnheard(replica: ReplicaId, now: number): boolean {
    if (this.silenced.has(replica)) return !this.members.includes(replica)
    const limit = this.options.outsideSilentAfterMs
    if (limit === undefined) return false
    // Cheapest test first: this runs for every message that arrives.
    const last = this.lastMessage.get(replica)
    return last !== undefined && now - last > limit && replica !== this.self && !this.members.includes(replica)
  }

  /** What member `replica` last reported it does not hear (in this view, and of replicas outside it before). */
  reportOf(replica: ReplicaId): readonly ReplicaId[] | undefined {
    return this.reports.get(replica)
  }

  /**
   * What member `replica` last reported it has not heard from (`reportedSilent`), if that report came in this view
   * no longer than `suspectAfterMs` ago: a member reports with every heartbeat, so an older report is one from
   * before a silence (or a restart) and says nothing of now.
   */
  freshSilentOf(replica: ReplicaId, now: number): readonly ReplicaId[] | undefined {
    const report = this.hearing.get(replica)
    if (report === undefined || now - report.at > this.options.suspectAfterMs || !this.members.includes(replica)) return undefined
    return report.silent
  }

  /**
   * True if member `replica`'s fresh report of whom it has not heard (`freshSilentOf`) names this replica and so many
   * of `configuration` that it hears less than a majority of it (itself counted): it can finish no view change.
   */
  deafTo(replica: ReplicaId, now: number, configuration: readonly ReplicaId[]): boolean {
    const silent = this.freshSilentOf(replica, now)
    return silent !== undefined && silent.includes(this.self) && hearsLessThanMajority(replica, silent, configuration)
  }

  /** True if the host could not send to `replica` (a member, since this view started; one outside the view, since a probe). */
  cannotSendTo(replica: ReplicaId): boolean {
    return this.unreachable.has(replica) || this.silenced.get(replica) === 'unreachable'
  }

  /** How many sends to `peer` the host reported failed so far: a send that raises it did not go out. */
  failedSends(peer: ReplicaId): number {
    return this.failures.get(peer) ?? 0
  }

  /** True if a member other than `replica` reported it, in its latest report of this view. */
  reportedByAnother(replica: ReplicaId): boolean {
    for (const peer of this.reports.keys()) if (peer !== replica && this.members.includes(peer) && this.reports.get(peer)!.includes(replica)) return true
    return false
  }

  /**
   * Members whose latest report of this view names this replica and so many others that they hear less than a
   * majority of the view: they cannot ask for a view change themselves (see `Membership.tick`).
   */
  deafMembers(): ReplicaId[] {
    const deaf: ReplicaId[] = []
    for (const [peer, suspects] of this.reports) {
      if (peer === this.self || !this.members.includes(peer) || !suspects.includes(this.self)) continue
      if (hearsLessThanMajority(peer, suspects, this.members)) deaf.push(peer)
    }
    return deaf
  }

  /** Members owed a heartbeat at `now` (heartbeats go out on their own schedule, whatever else flows); marks them sent. */
  heartbeatsDue(now: number): ReplicaId[] {
    const due = this.members.filter((m) => m !== this.self && now - (this.lastHeartbeatSent.get(m) ?? -Infinity) >= this.options.heartbeatMs)
    for (const member of due) this.lastHeartbeatSent.set(member, now)
    return due
  }
}

/** True if `peer`, not hearing the replicas `unheard` names, hears less than a majority of `among` (itself counted). */
function hearsLessThanMajority(peer: ReplicaId, unheard: readonly ReplicaId[], among: readonly ReplicaId[]): boolean {
  let heard = 0
  for (const r of among) if (r === peer || !unheard.includes(r)) heard++
  return heard < majorityOf(among.length)
}
