import type { ClientId, ReplicaId, ReplicaToClient } from '@lockstep/interface'
import { hex16, type OrderDigestView } from './digest'
import type { PeerMessage } from './peer-messages'

/** What the durable replies need from the engine. */
export interface DurableRepliesEnvironment {
  readonly self: ReplicaId
  /** The members of the current view: each is told how far this replica's disk holds the order. */
  members(): readonly ReplicaId[]
  /**
   * The members whose disks count: those of the current view in the configuration (a member outside it, a spare
   * that joined, follows the order but counts toward no majority). Default: every member.
   */
  counted?(): readonly ReplicaId[]
  /** How many of the counted disks must hold a request (a majority of the configuration). */
  quorum(): number
  sendToClient(to: ClientId, message: ReplicaToClient): void
  sendToPeer(to: ReplicaId, message: PeerMessage): void
  /**
   * Progress counts only where the order agrees: each report carries the digest of the reporter's order at its
   * position, and a peer's report counts once this replica's own digest at that position is the same. The engine
   * always sets it. Without it (and for a report without a digest, which only earlier versions send) a report
   * counts by its position alone.
   */
  readonly confirmOrder?: boolean
  /**
   * Peer `replica` reported that its disk holds the order up to `position`, below `held`: how far it had reported
   * that its disk held this replica's order, and a majority's disks held it. Its disk lost records it had synced (or
   * was restored from an older copy; see {@link DurableReplies.diskClaim}).
   */
  diskWentBack?(replica: ReplicaId, position: number, held: number): void
}

/** How many of its own order digests (by position) a replica keeps to check the peers' reports against. */
const KEPT_DIGESTS = 16_384

/** How many reports of one peer a replica keeps while it has not reached their positions. */
const MAX_PENDING_CLAIMS = 1024

/**
 * Majority-durable replies. With durable storage a reply is a promise that
 * survives any crash the cluster tolerates, including all replicas at once: it
 * is released only once the request is on the disks of a majority of the
 * configuration (within the view), so that any majority that later restarts
 * from its disks holds it. Each replica tells the others how far its disk
 * holds the order (`durable` messages); messages to clients wait here, by the
 * position of the request they answer, until that far is covered.
 */
export class DurableReplies {
  private readonly env: DurableRepliesEnvironment
  /** How far each replica's disk is known to hold the order; changed only through `setDurable` and `dropDurable`. */
  private readonly durable = new Map<ReplicaId, number>()
  /** Bumped whenever `durable` changes: `coveredNow` reuses its last answer while this and its inputs stay the same. */
  private durableVersion = 0
  private coveredMemo = { version: -1, members: undefined as readonly ReplicaId[] | undefined, quorum: 0, covered: 0 }
  private readonly held: { readonly position: number; readonly to: ClientId; readonly message: ReplicaToClient }[] = []
  /**
   * This replica's order digest at its last KEPT_DIGESTS positions (with `confirmOrder`): a ring indexed by
   * position, each slot with the position it holds. (A Map deleting its oldest entry per delivery is a cliff:
   * V8's iterator walks the deleted entries at the front of its table before finding the oldest live one.) A digest
   * given as halves is kept as two numbers (`digestHigh`, `digestLow`; its slot in `digestAt` undefined), its text
   * made only when a report is checked against it: a string per delivery, each kept for KEPT_DIGESTS deliveries,
   * was a third of what the collector promoted to its old generation under the real-time orderer in one process.
   */
  private readonly digestAt: (string | undefined)[] = []
  private readonly digestHigh: number[] = []
  private readonly digestLow: number[] = []
  /** The position each slot of `digestAt` was written for (slots fill as positions come: nothing is allocated up front). */
  private readonly digestPosition: number[] = []
  private readonly scratch: number[] = []
  /**
   * Each peer's reports this replica could not check yet (it had not reached their positions), oldest first. All
   * are kept, not just the latest: a peer ahead reports again before this replica reaches its last report, and
   * keeping only the latest would leave every reply waiting until this replica caught up with the newest one.
   */
  private readonly claims = new Map<ReplicaId, { readonly position: number; readonly digest: string }[]>()
  /** The highest position whose digest this replica noted in its present order. */
  private notedUpTo = 0
  /**
   * At most the lowest position of a pending claim (`Infinity` when none is known): until `notedUpTo` reaches it, a
   * delivery has no claim to check (every pending one is beyond it). It may lag below (a claim dropped): then one
   * pass over the claims sets it again.
   */
  private nextClaimAt = Infinity
  /**
   * Each peer's latest report with a digest, whatever this replica's order was when it came: when that order is
   * replaced, the reports are checked again against the new one (a peer reports only when its position moves).
   */
  private readonly lastReports = new Map<ReplicaId, { readonly position: number; readonly digest: string }>()
  /**
   * How far each peer's disk held this replica's order, by the peer's own checked reports: the highest since the
   * peer started afresh here (`forget`), this replica's order was replaced, or the peer's order was found another.
   */
  private readonly peaks = new Map<ReplicaId, number>()
  /** The highest position this replica found a majority's disks to hold (`covered`), on its present order. */
  private coveredMax = 0
  /** This replica's latest report to its peers, on its present order. */
  private lastOwnReport: PeerMessage | undefined

  constructor(env: DurableRepliesEnvironment) {
    this.env = env
  }

  /** A reply, output or evidence for a client: it goes out once a majority's disks hold the request it answers. */
  send(to: ClientId, message: ReplicaToClient): void {
    // An evidence answer vouches for a reply: it waits like the reply.
    const position =
      message.type === 'reply'
        ? message.reply.position
        : message.type === 'output'
          ? message.output.position
          : message.type === 'evidence' && message.answer.status === 'ok'
            ? message.answer.evidence.value.position
            : undefined
    if (position === undefined || position <= this.coveredNow()) this.env.sendToClient(to, message)
    else this.hold(position, to, message)
  }

  /**
   * This replica's disk holds the order up to `position`: the peers are told, and what is covered goes out. True if
   * it moved. With `confirmOrder`, only a position whose digest this replica noted in its present order counts (one
   * it executed since its state was last replaced, or that state's own position): what the disk holds beyond that
   * belongs to an order this replica no longer has.
   */
  ownProgress(position: number): boolean {
    const digest = this.env.confirmOrder ? this.ownDigest(position) : undefined
    if (this.env.confirmOrder && digest === undefined) return false
    if (!this.record(this.env.self, position)) return false
    const message: PeerMessage = digest === undefined ? { kind: 'durable', position } : { kind: 'durable', position, digest }
    this.lastOwnReport = message
    this.repeatOwnReport()
    this.releaseCovered()
    return true
  }

  /**
   * Sends this replica's latest report to every other member: when its position moves, and again when a new view
   * is installed. A link that refused a report (full: the peer was slow or cut off) lost it; the refusal ends in a
   * view change, and a view installed with nothing new to deliver moves no position. Found
   * (a sweep beyond CI's seeds: real time, mutex, 5 replicas, links of 16 messages under delay spikes, voting
   * clients, seed 40): r1's report of 57 to r2 was refused, views changed again and again at 57, and r2 held
   * every reply for ever, though the clients needed its answer.
   */
  repeatOwnReport(): void {
    const message = this.lastOwnReport
    if (message === undefined) return
    for (const member of this.env.members()) if (member !== this.env.self) this.env.sendToPeer(member, message)
  }

  /**
   * Peer `from`'s disk holds the order up to `position` (with `confirmOrder`: it delivered up to there, and
   * `digest` is its order's digest there; it counts once this replica's own order is the same up to there).
   */
  peerProgress(from: ReplicaId, position: number, digest?: string): void {
    this.diskClaim(from, position)
    if (!this.env.confirmOrder || digest === undefined) {
      if (this.record(from, position)) this.releaseCovered()
      return
    }
    this.lastReports.set(from, { position, digest })
    this.addClaim(from, position, digest)
    this.checkClaim(from)
  }

  /**
   * Peer `from` says its disk holds the order up to `position` (a report, or a restarted replica's `recover`). A disk
   * reports how far it holds the order only after syncing it, and a position that a majority's disks held is never
   * dropped by the cluster (a reply waits for it, and any majority that resumes the cluster holds it): a disk that
   * reported such a position and now says less (a restart from a disk that lost its last writes, zeros read as the end
   * of its log) lost what it had synced, acknowledged writes perhaps among it. A disk may go back below what it
   * reported and no majority held: the cluster resumed from a majority's disks without those positions (the peer then
   * drops them, and takes the state). Either way its next report counts as a first one. (Its state comes by transfer
   * as after any restart, so nothing is lost while the other disks of a majority hold it; this makes sure a loss is
   * not silent.) Found by the simulator's check that no replica says so when no disk lost anything (real time, mutex,
   * 5 replicas, durable, with blackouts, seed 10): r3's disk went from 31 back to 30 after a blackout, when the cluster
   * resumed at 30 from a majority's disks; only r1's and r3's had held 31.
   */
  diskClaim(from: ReplicaId, position: number): void {
    const peak = this.peaks.get(from)
    if (peak === undefined || position >= peak) return
    this.peaks.delete(from)
    const held = Math.min(peak, Math.max(this.coveredMax, this.coveredNow()))
    if (position < held) this.env.diskWentBack?.(from, position, held)
  }

  /** Keeps peer `from`'s report to be checked as this replica's order reaches its position. */
  private addClaim(from: ReplicaId, position: number, digest: string): void {
    if (position < this.nextClaimAt) this.nextClaimAt = position
    const pending = this.claims.get(from)
    if (pending === undefined) this.claims.set(from, [{ position, digest }])
    else {
      // A report at or below one still pending makes those obsolete: the peer's disk went back (a transfer replaced
      // its state), and a pending report this replica may never reach (another branch of the order) must not hold
      // back the ones after it. Bounded: the oldest go first (a later report covers more).
      while (pending.length > 0 && pending[pending.length - 1]!.position >= position) pending.pop()
      if (pending.length >= MAX_PENDING_CLAIMS) pending.shift()
      pending.push({ position, digest })
    }
  }

  /** This replica's order digest after the request at `position` (with `confirmOrder`): its text, or its keeper's view. */
  noteDigest(position: number, digest: string | OrderDigestView): void {
    if (!this.env.confirmOrder) return
    const slot = position % KEPT_DIGESTS
    if (typeof digest === 'string') this.digestAt[slot] = digest
    else if (!digest.hasHalves) this.digestAt[slot] = digest.digest
    else {
      this.digestAt[slot] = undefined
      this.digestHigh[slot] = digest.high
      this.digestLow[slot] = digest.low
    }
    this.digestPosition[slot] = position
    if (position > this.notedUpTo) this.notedUpTo = position
    // Once per delivery: a pass over the claims only when one may be reached.
    if (this.claims.size === 0 || this.notedUpTo < this.nextClaimAt) return
    // checkClaim may delete the claim being visited, which a Map's iterator allows.
    for (const peer of this.claims.keys()) this.checkClaim(peer)
    let next = Infinity
    for (const pending of this.claims.values()) if (pending[0]!.position < next) next = pending[0]!.position
    this.nextClaimAt = next
  }

  /** This replica's digest at `position`, if it is among the last KEPT_DIGESTS noted. */
  private ownDigest(position: number): string | undefined {
    const slot = position % KEPT_DIGESTS
    if (this.digestPosition[slot] !== position) return undefined
    return this.digestAt[slot] ?? hex16(this.digestHigh[slot]!, this.digestLow[slot]!)
  }

  /** Counts a peer's reports, oldest first, once this replica's own digest at each one's position is known and the same. */
  private checkClaim(peer: ReplicaId): void {
    const pending = this.claims.get(peer)
    if (!pending) return
    let moved = false
    let checked = 0
    for (; checked < pending.length; checked++) {
      const claim = pending[checked]!
      if (claim.position > this.notedUpTo) break // not there yet: checked again as this replica delivers
      const own = this.ownDigest(claim.position)
      if (own === undefined) continue // too far back to check: dropped (a later report covers it)
      if (own === claim.digest) {
        // The peer's latest checked report says how far its disk holds this replica's order, even below an
        // earlier one: its disk went back when a transfer replaced its state.
        if (claim.position > this.position(peer)) moved = true
        this.setDurable(peer, claim.position)
        if (claim.position > (this.peaks.get(peer) ?? 0)) this.peaks.set(peer, claim.position)
      } else {
        // A different order there: the peer's disk does not hold this replica's, so nothing known of it counts
        // (one of the two diverged; it takes the other's state or stops).
        this.dropDurable(peer)
      }
    }
    if (checked === pending.length) this.claims.delete(peer)
    else if (checked > 0) pending.splice(0, checked)
    if (moved) this.releaseCovered()
  }

  /** `covered` over the counted members (once per reply sent: the answer is kept while nothing it reads changed). */
  private coveredNow(): number {
    const members = this.env.counted?.() ?? this.env.members()
    const quorum = this.env.quorum()
    const memo = this.coveredMemo
    if (memo.version === this.durableVersion && memo.members === members && memo.quorum === quorum) return memo.covered
    memo.covered = this.covered(members, quorum)
    if (memo.covered > this.coveredMax) this.coveredMax = memo.covered
    memo.version = this.durableVersion
    memo.members = members
    memo.quorum = quorum
    return memo.covered
  }

  /** Sends the held messages whose positions are covered, in the order they were held; keeps the rest in place. */
  private releaseCovered(): void {
    const held = this.held
    if (held.length === 0) return
    const covered = this.coveredNow()
    let kept = 0
    let i = 0
    try {
      for (; i < held.length; i++) {
        const entry = held[i]!
        if (entry.position <= covered) this.env.sendToClient(entry.to, entry.message)
        else held[kept++] = entry
      }
    } finally {
      // If a send threw, the entries after it stay held (the next release sends the covered ones).
      for (let j = i + 1; j < held.length; j++) held[kept++] = held[j]!
      held.length = kept
    }
  }

  /** Replica `replica`'s disk holds the order up to `position`. Returns true if that moved it forward. */
  record(replica: ReplicaId, position: number): boolean {
    if (position <= (this.durable.get(replica) ?? 0)) return false
    this.setDurable(replica, position)
    return true
  }

  private setDurable(replica: ReplicaId, position: number): void {
    this.durable.set(replica, position)
    this.durableVersion++
  }

  /** Nothing is known of `replica`'s disk any more (all of them without an argument). */
  private dropDurable(replica?: ReplicaId): void {
    if (replica === undefined) {
      this.durable.clear()
      this.peaks.clear()
      this.coveredMax = 0
    } else {
      this.durable.delete(replica)
      this.peaks.delete(replica)
    }
    this.durableVersion++
  }

  /**
   * This replica's state was replaced (it took the state, or the order after its own, by transfer) and is now the
   * one at `position`, whose order has digest `digest`. The replies still held answered the state it had before;
   * what is known of the disks (its own and the peers', each checked against its old order) and its old digests
   * are about that state's order, which may have departed from the cluster's: all are dropped, and the disks
   * count again as they report on the present order. Found (world simulator, real time, seed 2014): a replica
   * that took a state counted a peer's report on another branch of the order and released a reply that the
   * cluster then lost.
   *
   * Each peer's latest report is then checked again, against the present order's digest: a peer reports only
   * when its position moves, and one that reported while this replica was taking the state (as it does on
   * installing the view that brings this replica back) may report nothing more for a long time. Found (a sweep
   * beyond CI's seeds: real time, kv, 5 replicas, byzantine voter, seed 68): r5 took the order up to 97 by
   * transfer after r2's report of 97 came; taking it dropped that report, r2 reported nothing new (every client
   * waited for a third identical answer), and r5 held every reply for ever.
   */
  orderReplaced(position: number, digest: string): void {
    this.held.length = 0
    this.dropDurable()
    this.claims.clear()
    this.digestAt.length = 0
    this.digestHigh.length = 0
    this.digestLow.length = 0
    this.digestPosition.length = 0
    this.notedUpTo = 0
    this.lastOwnReport = undefined
    for (const [peer, report] of this.lastReports) this.addClaim(peer, report.position, report.digest)
    this.noteDigest(position, digest)
  }

  /** Replicas that start afresh (joiners): what their disks held before no longer counts. */
  forget(replicas: readonly ReplicaId[]): void {
    for (const replica of replicas) {
      this.dropDurable(replica)
      this.claims.delete(replica)
      this.lastReports.delete(replica)
    }
  }

  /** How far `replica`'s disk is known to hold the order. */
  position(replica: ReplicaId): number {
    return this.durable.get(replica) ?? 0
  }

  /** The highest position held by the disks of `quorum` of `members`. */
  covered(members: readonly ReplicaId[], quorum: number): number {
    if (quorum > members.length) return 0
    // Called for every reply: an insertion sort (descending) into a kept array, no allocation.
    const positions = this.scratch
    positions.length = 0
    for (const member of members) {
      const position = this.durable.get(member) ?? 0
      let i = positions.length
      while (i > 0 && positions[i - 1]! < position) {
        positions[i] = positions[i - 1]!
        i--
      }
      positions[i] = position
    }
    return positions[quorum - 1]!
  }

  /** Holds a message answering the request at `position` until `release` covers it. */
  hold(position: number, to: ClientId, message: ReplicaToClient): void {
    this.held.push({ position, to, message })
  }

  /** Drops every held reply unsent (they may come from a state this replica can no longer vouch for). */
  dropHeld(): void {
    this.held.length = 0
  }

  /** Messages waiting for disks. */
  get waiting(): number {
    return this.held.length
  }
}
