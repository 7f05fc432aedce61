import { ErrorCodes, type Logger, type ReplicaId } from '@lockstep/interface'
import { compareStateDigests } from '@lockstep/voting'
import type { PeerMessage } from './peer-messages'

/** What the state-digest checks need from the engine around them. */
export interface StateDigestHost {
  readonly self: ReplicaId
  readonly log: Logger
  /** The members of the current view: the digests are sent to them, and a majority of them decides. */
  members(): readonly ReplicaId[]
  send(to: ReplicaId, message: PeerMessage): void
  /**
   * A majority of the view holds another digest than this replica at `position`: its state is wrong. The engine
   * stops serving from it and rejoins by state transfer; returns what it did, for the log.
   */
  diverged(position: number, agreeing: readonly ReplicaId[]): string
}

/** Reports kept for at most this many positions (the newest ones): memory stays O(positions × members). */
export const DIGEST_POSITIONS_KEPT = 16

interface Checkpoint {
  /** Each reporting replica's digest (this replica's own too). */
  readonly reports: Map<ReplicaId, string>
  /** The digest a majority of the view reported, once one did. */
  agreed?: string
  /** Replicas already named in the minority (each is logged once per position). */
  readonly named: Set<ReplicaId>
  /** True once it was said that no digest has a majority there (said once). */
  saidSplit?: boolean
}

/**
 * State digests (Schneider §4, detecting a replica whose state went wrong): every `every` deliveries each replica
 * sends the digest of its state at that position to the members of its view. Once a majority of the view reported
 * the same digest for a position, a replica in the minority learns its state is wrong: it says so at error level
 * (`STATE_DIVERGED`, naming the position and the replicas) and rejoins by state transfer; the others name the
 * minority at warn level. Reports are kept for the newest {@link DIGEST_POSITIONS_KEPT} positions only.
 */
export class StateDigestChecks {
  private readonly host: StateDigestHost
  /** Take a digest every this many deliveries (positions that are multiples of it). */
  readonly every: number
  private readonly checkpoints = new Map<number, Checkpoint>()
  private mismatches = 0

  constructor(host: StateDigestHost, every: number) {
    this.host = host
    this.every = every
  }

  /** True for a position this replica takes a digest at. */
  isCheckpoint(position: number): boolean {
    return this.every > 0 && position > 0 && position % this.every === 0
  }

  /** Positions at which this replica held another digest than a majority of its view (its own state was wrong). */
  get divergences(): number {
    return this.mismatches
  }

  /** Positions whose reports are kept (at most {@link DIGEST_POSITIONS_KEPT}). */
  get positionsKept(): number {
    return this.checkpoints.size
  }

  /** This replica's own digest at `position` (just executed): sent to the other members, then compared. */
  own(position: number, digest: string): void {
    for (const member of this.host.members()) if (member !== this.host.self) this.host.send(member, { kind: 'stateDigest', position, digest })
    this.record(this.host.self, position, digest)
  }

  /** Another replica's digest at `position`. */
  onReport(from: ReplicaId, position: number, digest: string): void {
    if (!this.isCheckpoint(position)) {
      this.host.log.warn(`replica '${this.host.self}' ignored a state digest from '${from}' at position ${position}, which is not a multiple of its stateDigestEvery (${this.every}); give every replica the same setting`)
      return
    }
    this.record(from, position, digest)
  }

  /** This replica gave up its state: the digests it reported from it are void (it will report from the state it takes). */
  forgetOwn(): void {
    for (const checkpoint of this.checkpoints.values()) checkpoint.reports.delete(this.host.self)
  }

  private record(replica: ReplicaId, position: number, digest: string): void {
    let checkpoint = this.checkpoints.get(position)
    if (!checkpoint) {
      checkpoint = { reports: new Map(), named: new Set() }
      this.checkpoints.set(position, checkpoint)
      this.evictOldest()
      if (!this.checkpoints.has(position)) return // older than every position kept
    }
    checkpoint.reports.set(replica, digest)
    this.compare(position, checkpoint)
  }

  private evictOldest(): void {
    while (this.checkpoints.size > DIGEST_POSITIONS_KEPT) {
      const oldest = Math.min(...this.checkpoints.keys())
      this.checkpoints.delete(oldest)
    }
  }

  private compare(position: number, checkpoint: Checkpoint): void {
    const members = this.host.members()
    const reports = [...checkpoint.reports].filter(([replica]) => members.includes(replica)).map(([replicaId, digest]) => ({ replicaId, position, digest }))
    if (reports.length === 0) return
    const verdict = compareStateDigests(reports, members.length)
    if (!verdict.agreed) {
      if (reports.length === members.length && !checkpoint.saidSplit) {
        checkpoint.saidSplit = true
        this.host.log.error(`replica '${this.host.self}': the state digests at position ${position} differ and no digest is held by a majority of the view: ${verdict.reason}`, {
          code: ErrorCodes.STATE_DIVERGED,
          position,
        })
      }
      return
    }
    checkpoint.agreed = verdict.digest
    const fresh = verdict.minority.filter((replica) => !checkpoint.named.has(replica))
    if (fresh.length === 0) return
    for (const replica of fresh) checkpoint.named.add(replica)
    const self = this.host.self
    const minority = verdict.minority.join(', ')
    if (fresh.includes(self)) {
      this.mismatches++
      const own = checkpoint.reports.get(self) ?? '?'
      const action = this.host.diverged(position, verdict.agreeing)
      this.host.log.error(
        `replica '${self}': its state at position ${position} differs from the majority's (digest ${own}, while ${verdict.agreeing.join(', ')} hold ${verdict.digest}; minority: ${minority}). ${action}`,
        { code: ErrorCodes.STATE_DIVERGED, position, minority: verdict.minority, agreeing: verdict.agreeing },
      )
      return
    }
    this.host.log.warn(
      `replica '${self}': the state of ${fresh.join(', ')} at position ${position} differs from the majority's (${verdict.agreeing.join(', ')} hold ${verdict.digest}); the minority rejoins by state transfer`,
      { code: ErrorCodes.STATE_DIVERGED, position, minority: fresh, agreeing: verdict.agreeing },
    )
  }
}
