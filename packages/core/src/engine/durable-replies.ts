import type { ClientId, ReplicaId, ReplicaToClient } from '@lockstep/interface'
import type { PeerMessage } from './peer-messages'

/** What the durable replies need from the engine. */
export interface DurableRepliesEnvironment {
  readonly self: ReplicaId
  /** The members of the current view: their disks count. */
  members(): readonly ReplicaId[]
  /** How many of their disks must hold a request (a majority of the configuration). */
  quorum(): number
  sendToClient(to: ClientId, message: ReplicaToClient): void
  sendToPeer(to: ReplicaId, message: PeerMessage): void
}

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
  private readonly durable = new Map<ReplicaId, number>()
  private held: { readonly position: number; readonly to: ClientId; readonly message: ReplicaToClient }[] = []

  constructor(env: DurableRepliesEnvironment) {
    this.env = env
  }

  /** A reply or output for a client: it goes out once a majority's disks hold the request it answers. */
  send(to: ClientId, message: ReplicaToClient): void {
    const position = message.type === 'reply' ? message.reply.position : message.output.position
    if (position === undefined || position <= this.coveredNow()) this.env.sendToClient(to, message)
    else this.hold(position, to, message)
  }

  /** This replica's disk holds the order up to `position`: the peers are told, and what is covered goes out. True if it moved. */
  ownProgress(position: number): boolean {
    if (!this.record(this.env.self, position)) return false
    for (const member of this.env.members()) if (member !== this.env.self) this.env.sendToPeer(member, { kind: 'durable', position })
    this.releaseCovered()
    return true
  }

  /** Peer `from`'s disk holds the order up to `position`. */
  peerProgress(from: ReplicaId, position: number): void {
    if (this.record(from, position)) this.releaseCovered()
  }

  private coveredNow(): number {
    return this.covered(this.env.members(), this.env.quorum())
  }

  private releaseCovered(): void {
    for (const { to, message } of this.release(this.coveredNow())) this.env.sendToClient(to, message)
  }

  /** Replica `replica`'s disk holds the order up to `position`. Returns true if that moved it forward. */
  record(replica: ReplicaId, position: number): boolean {
    if (position <= (this.durable.get(replica) ?? 0)) return false
    this.durable.set(replica, position)
    return true
  }

  /** Replicas that start afresh (joiners): what their disks held before no longer counts. */
  forget(replicas: readonly ReplicaId[]): void {
    for (const replica of replicas) this.durable.delete(replica)
  }

  /** How far `replica`'s disk is known to hold the order. */
  position(replica: ReplicaId): number {
    return this.durable.get(replica) ?? 0
  }

  /** The highest position held by the disks of `quorum` of `members`. */
  covered(members: readonly ReplicaId[], quorum: number): number {
    const positions = members.map((m) => this.durable.get(m) ?? 0).sort((a, b) => b - a)
    return quorum <= positions.length ? positions[quorum - 1]! : 0
  }

  /** Holds a message answering the request at `position` until `release` covers it. */
  hold(position: number, to: ClientId, message: ReplicaToClient): void {
    this.held.push({ position, to, message })
  }

  /** The held messages whose positions are covered, in the order they were held. */
  release(covered: number): { readonly to: ClientId; readonly message: ReplicaToClient }[] {
    if (this.held.length === 0 || this.held.every((m) => m.position > covered)) return []
    const ready = this.held.filter((m) => m.position <= covered)
    this.held = this.held.filter((m) => m.position > covered)
    return ready
  }

  /** Drops every held reply unsent (they may come from a state this replica can no longer vouch for). */
  dropHeld(): void {
    this.held = []
  }

  /** Messages waiting for disks. */
  get waiting(): number {
    return this.held.length
  }
}
