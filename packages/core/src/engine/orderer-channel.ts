import { type CrashTolerantOrderer, type Logger, type Orderer, type ReplicaId, type View } from '@lockstep/interface'
import type { PeerMessage, PeerMessageOf } from './peer-messages'
import { isRefusal } from './refusals'

/** What the orderer channel needs from the engine. */
export interface OrdererChannelEnvironment {
  readonly self: ReplicaId
  readonly log: Logger
  view(): View
  isMember(replica: ReplicaId): boolean
  /** True while the orderer runs (ordering, or ordering with deliveries held for a transfer). */
  orders(): boolean
  /** True while this replica, fresh, may still start the initial view. */
  isFresh(): boolean
  send(to: ReplicaId, message: PeerMessage): void
  /** Suspects `replica` until the next view (false if it already was). */
  suspect(replica: ReplicaId): boolean | undefined
}

/**
 * Routes orderer messages between views. A message of the current view from a member goes to the orderer;
 * one of a newer view waits until that view is installed here (and asks which view it is); one of an older
 * view from a replica outside the view tells it that it was removed. An orderer that refuses a member's
 * message (a gap in its stream: the member restarted, or the link lost messages) cannot order with it any
 * more: the member is suspected, so a view change brings it back.
 */
export class OrdererChannel {
  private readonly env: OrdererChannelEnvironment
  private readonly orderer: () => Orderer
  private future: { from: ReplicaId; message: PeerMessageOf<'orderer'> }[] = []
  private ending = false

  constructor(env: OrdererChannelEnvironment, orderer: () => Orderer) {
    this.env = env
    this.orderer = orderer
  }

  onMessage(from: ReplicaId, m: PeerMessageOf<'orderer'>): void {
    const view = this.env.view()
    if (m.view === view.id && !this.env.isFresh()) {
      if (this.env.isMember(from) && this.env.orders()) this.receive(from, m.message)
    } else if (m.view >= view.id) {
      // A newer view's messages (or the new cluster's, to a fresh replica about to start it) wait until it is installed.
      if (this.future.length < 100_000) this.future.push({ from, message: m })
      if (m.view > view.id) this.env.send(from, { kind: 'query', view: m.view })
    } else if (!this.env.isMember(from)) {
      this.env.send(from, { kind: 'removed', view })
    }
  }

  /** A view was installed: the messages that waited for it are handed back (to be handled again, in order). */
  takeWaiting(): { from: ReplicaId; message: PeerMessageOf<'orderer'> }[] {
    const waiting = this.future
    this.future = []
    return waiting
  }

  /** The view-change flush: the orderer delivers the old view's agreed end, then orders in `view` (false if it lacks part of it). */
  endView(orderer: CrashTolerantOrderer, view: View, boundary: unknown): boolean {
    this.ending = true
    try {
      return orderer.install(view, boundary)
    } finally {
      this.ending = false
    }
  }

  /** True while the orderer delivers the agreed end of the old view. */
  get flushing(): boolean {
    return this.ending
  }

  private receive(from: ReplicaId, message: unknown): void {
    try {
      this.orderer().receive(from, message)
    } catch (error) {
      // A refusal of the message (a LockstepError) is the sender's doing; INTERNAL is this replica's own failure (a
      // machine's snapshot that threw inside the delivery the message set off, a broken invariant): not the sender's.
      const suspected = isRefusal(error) ? this.env.suspect(from) : undefined
      if (suspected === undefined) throw error
      if (suspected) this.env.log.warn(`replica '${this.env.self}' suspects '${from}': its orderer refused its message: ${(error as Error).message}`)
    }
  }
}
