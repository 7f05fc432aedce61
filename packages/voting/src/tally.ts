import { ErrorCodes, LockstepError, type ReplicaId } from '@lockstep/interface'
import { digestOf } from './canonical-encoding'

/** Not enough identical ballots yet; more may decide. */
export interface Undecided {
  readonly status: 'undecided'
  /** Distinct replicas that have voted. */
  readonly voted: number
  /** Identical ballots needed to decide. */
  readonly needed: number
  /** Ballots for the value with the most of them so far. */
  readonly leading: number
}

/** A value reached the threshold. The decision never changes; `agreeing` and `dissenting` follow later ballots. */
export interface Decided<V> {
  readonly status: 'decided'
  /** The decided value (as the first replica of the agreeing ones sent it). */
  readonly value: V
  /** Its {@link digestOf digest}. */
  readonly digest: string
  /** The replicas that sent the decided value and never another, in the voter's replica order. */
  readonly agreeing: readonly ReplicaId[]
  /** The replicas that sent another value, or changed their ballot (equivocation), in the voter's replica order. */
  readonly dissenting: readonly ReplicaId[]
}

/** No value can reach the threshold any more, whatever the replicas that have not voted send. */
export interface Impossible {
  readonly status: 'impossible'
  /** What was received and why it cannot decide. */
  readonly reason: string
  /** Distinct replicas that have voted. */
  readonly voted: number
  /** Identical ballots needed to decide. */
  readonly needed: number
}

/** Where a {@link Tally} stands. */
export type VoteOutcome<V> = Undecided | Decided<V> | Impossible

/** The ballots for one request (or one output): feed it each replica's answer as it arrives. */
export interface Tally<V = unknown> {
  /**
   * Counts `replica`'s ballot and returns the outcome. A ballot equal to the replica's earlier one (compared by
   * canonical encoding) counts once; a different one is equivocation: the replica's ballot no longer counts for
   * any value and it is reported as dissenting. Throws `UNKNOWN_PEER` for a replica the voter does not list and
   * `INVALID_ARGUMENT` for a value with no canonical encoding.
   */
  cast(replica: ReplicaId, value: V): VoteOutcome<V>
  /** The outcome so far, with the ballots received until now. */
  outcome(): VoteOutcome<V>
  /**
   * Every replica known to dissent so far, in the voter's replica order, and it keeps growing after the decision
   * as late ballots arrive: those that sent another value than the decided one, and those that changed their
   * ballot (equivocation). Before a decision only the equivocators are known.
   */
  dissenters(): ReplicaId[]
}

interface Ballot<V> {
  readonly value: V
  readonly digest: string
}

/** One {@link Tally}; made by `Voter.tally()`. */
export class VoteTally<V> implements Tally<V> {
  private readonly ballots = new Map<ReplicaId, Ballot<V>>()
  /** Replicas that sent two different values: they count for nothing. */
  private readonly equivocators = new Set<ReplicaId>()
  /** The counted (non-equivocating) replicas per digest, with the first value received for it. */
  private readonly groups = new Map<string, { readonly value: V; readonly replicas: Set<ReplicaId> }>()
  private decided: Ballot<V> | undefined

  constructor(
    private readonly rule: string,
    private readonly replicas: readonly ReplicaId[],
    private readonly needed: number,
  ) {}

  cast(replica: ReplicaId, value: V): VoteOutcome<V> {
    if (!this.replicas.includes(replica)) {
      throw new LockstepError(ErrorCodes.UNKNOWN_PEER, `voter ${this.rule}: a ballot came from '${String(replica)}', which is not one of the replicas ${this.replicas.join(', ')}`)
    }
    const digest = digestOf(value)
    if (this.equivocators.has(replica)) return this.outcome()
    const earlier = this.ballots.get(replica)
    if (earlier !== undefined) {
      if (earlier.digest !== digest) {
        this.equivocators.add(replica)
        this.groups.get(earlier.digest)?.replicas.delete(replica)
      }
      return this.outcome()
    }
    this.ballots.set(replica, { value, digest })
    let group = this.groups.get(digest)
    if (group === undefined) {
      group = { value, replicas: new Set() }
      this.groups.set(digest, group)
    }
    group.replicas.add(replica)
    if (this.decided === undefined && group.replicas.size >= this.needed) this.decided = { value: group.value, digest }
    return this.outcome()
  }

  outcome(): VoteOutcome<V> {
    if (this.decided !== undefined) {
      const agreeing = this.groups.get(this.decided.digest)?.replicas ?? new Set()
      return {
        status: 'decided',
        value: this.decided.value,
        digest: this.decided.digest,
        agreeing: this.replicas.filter((replica) => agreeing.has(replica)),
        dissenting: this.dissenters(),
      }
    }
    const voted = this.ballots.size
    const leading = Math.max(0, ...[...this.groups.values()].map((group) => group.replicas.size))
    // A replica that has not voted may still join the leading value (or, with all of them, a new one).
    const notVoted = this.replicas.length - voted
    if (leading + notVoted < this.needed) {
      const groups = [...this.groups.values()].filter((group) => group.replicas.size > 0).length
      const equivocated = this.equivocators.size === 0 ? '' : `, ${this.equivocators.size} changed their ballot (${[...this.equivocators].join(', ')})`
      return {
        status: 'impossible',
        reason:
          `voter ${this.rule}: ${voted} of ${this.replicas.length} replicas voted for ${groups} different value${groups === 1 ? '' : 's'}${equivocated}; ` +
          `the most any value has is ${leading}, and with the ${notVoted} replica${notVoted === 1 ? '' : 's'} yet to vote no value can reach the ${this.needed} identical ballots needed`,
        voted,
        needed: this.needed,
      }
    }
    return { status: 'undecided', voted, needed: this.needed, leading }
  }

  dissenters(): ReplicaId[] {
    const decidedDigest = this.decided?.digest
    return this.replicas.filter((replica) => {
      if (this.equivocators.has(replica)) return true
      const ballot = this.ballots.get(replica)
      return ballot !== undefined && decidedDigest !== undefined && ballot.digest !== decidedDigest
    })
  }
}
