import type { ReplicaId } from '@lockstep/interface'

/** Timing of failure detection. */
export interface FailureDetectorOptions {
  /** A replica writes to each member at least this often. */
  readonly heartbeatMs: number
  /** A member silent this long is suspected. */
  readonly suspectAfterMs: number
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
  private readonly lastHeard = new Map<ReplicaId, number>()
  private readonly lastHeartbeatSent = new Map<ReplicaId, number>()
  /** What each member last said it suspects (from its heartbeats and promises). */
  private readonly reports = new Map<ReplicaId, readonly ReplicaId[]>()
  /** Members the host could not send to: suspected until the next view. */
  private readonly unreachable = new Set<ReplicaId>()

  constructor(self: ReplicaId, options: FailureDetectorOptions) {
    this.self = self
    this.options = options
  }

  /** Starts watching the members of a new view: all count as heard from `now`; old suspicions are dropped. */
  watch(members: readonly ReplicaId[], now: number): void {
    this.members = members
    this.lastHeard.clear()
    for (const member of members) this.lastHeard.set(member, now)
    this.reports.clear()
    this.unreachable.clear()
  }

  /** A message arrived from member `from`. */
  heard(from: ReplicaId, now: number): void {
    this.lastHeard.set(from, now)
  }

  /** Member `from` reported whom it suspects. */
  reported(from: ReplicaId, suspects: readonly ReplicaId[]): void {
    this.reports.set(from, suspects)
  }

  /** The link to `peer` failed; returns false if it was already marked. */
  markUnreachable(peer: ReplicaId): boolean {
    if (this.unreachable.has(peer)) return false
    this.unreachable.add(peer)
    return true
  }

  /** Members this replica suspects: silent for longer than `suspectAfterMs`, or unreachable. */
  suspects(now: number): ReplicaId[] {
    const limit = this.options.suspectAfterMs
    return this.members.filter((m) => m !== this.self && (this.unreachable.has(m) || now - (this.lastHeard.get(m) ?? now) > limit))
  }

  /** How many members suspect `member`: this replica (from `ownSuspects`) and every other member that reported it. */
  suspicionCount(member: ReplicaId, ownSuspects: readonly ReplicaId[]): number {
    let count = ownSuspects.includes(member) ? 1 : 0
    // Keys, then get: no [key, value] array per report (this runs for every member at every tick).
    for (const peer of this.reports.keys()) if (peer !== member && this.members.includes(peer) && this.reports.get(peer)!.includes(member)) count++
    return count
  }

  /** Members owed a heartbeat at `now` (heartbeats go out on their own schedule, whatever else flows); marks them sent. */
  heartbeatsDue(now: number): ReplicaId[] {
    const due = this.members.filter((m) => m !== this.self && now - (this.lastHeartbeatSent.get(m) ?? -Infinity) >= this.options.heartbeatMs)
    for (const member of due) this.lastHeartbeatSent.set(member, now)
    return due
  }
}
