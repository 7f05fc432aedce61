import type { Logger, ReplicaId, View } from '@lockstep/interface'
import type { PeerMessage, PeerMessageOf } from './peer-messages'
import { majorityOf } from './view-change/quorum'

/**
 * The start of a new cluster. A replica that starts without any state (memory
 * storage, an empty data directory) cannot tell a first start from a restart
 * that lost everything, so it never assumes it is a member: it asks to join,
 * saying it is fresh. Only when a majority of the configuration is fresh
 * (nobody holds any state) do the fresh replicas start the initial view;
 * anything that shows a cluster already running (a newer view, a vote, a
 * recovering replica, a non-fresh join) makes it wait to be added instead. A
 * member of the initial view that comes late is added by a view change like
 * any joiner: it may be a member that restarted without its state, whose
 * earlier run ordered requests the others count on, so it never takes its
 * place in the initial view by itself.
 */
export class ClusterStart {
  private readonly self: ReplicaId
  private readonly log: Logger
  private readonly initialView: View
  private fresh: boolean
  private readonly freshPeers = new Set<ReplicaId>()

  constructor(self: ReplicaId, initialView: View, fresh: boolean, log: Logger) {
    this.self = self
    this.initialView = initialView
    this.fresh = fresh
    this.log = log
  }

  /** True while this replica started without state and may still start a new cluster. */
  get isFresh(): boolean {
    return this.fresh
  }

  /** This replica installed a view (or recovered one from its disk): it is not fresh any more. */
  ended(): void {
    this.fresh = false
  }

  /**
   * A message arrived. To a fresh replica, anything but another fresh replica's join or the initial view's
   * traffic is evidence of a cluster that has started already: it stops counting on starting one.
   */
  noteMessage(message: PeerMessage): void {
    if (!this.fresh) return
    const startTraffic =
      (message.kind === 'join' && message.fresh) ||
      ((message.kind === 'heartbeat' || message.kind === 'orderer') && message.view === this.initialView.id)
    if (startTraffic) return
    this.fresh = false
    this.log.info(`replica '${this.self}' started without state and hears from a running cluster ('${message.kind}'); it asks to join it`)
  }

  /** A join from `from` while this replica is outside any view: a fresh one counts toward starting. */
  joinedWhileOutside(from: ReplicaId, m: PeerMessageOf<'join'>): void {
    if (this.fresh && m.fresh) this.freshPeers.add(from)
  }

  /** True when this fresh replica of the initial view should start it: a majority of `configuration` is fresh. */
  shouldStart(configuration: readonly ReplicaId[]): boolean {
    if (!this.fresh || !this.initialView.members.includes(this.self)) return false
    const fresh = [...this.freshPeers, this.self].filter((r) => configuration.includes(r))
    if (new Set(fresh).size < majorityOf(configuration.length)) return false
    this.log.info(`replica '${this.self}' starts a new cluster in view ${this.initialView.id} with ${[...new Set(fresh)].sort().join(', ')} (a majority started without state)`)
    return true
  }
}
