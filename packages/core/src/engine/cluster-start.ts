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
 *
 * A fresh replica whose peer confirmed this run (see below) and then started the
 * initial view, or changes it, starts too, without a majority of its own: that
 * peer saw a majority fresh, and links to the others may still be connecting.
 *
 * A fresh peer counts toward that majority only once it confirmed this run of
 * this replica: its fresh join names this replica's incarnation (`knows`),
 * which it can only have heard from this run. A join is no proof by itself
 * that its sender is fresh now: a link may hold messages for a peer's earlier
 * run and hand them to the next one (the TCP transport sends a restarted peer
 * what it holds unacknowledged), so a restarted replica could otherwise count
 * a running member as fresh from the join it sent when the cluster first
 * started, and start a new, empty cluster beside the running one. Found with
 * real processes: r2 restarted without its state about a second after the
 * cluster started, r3's link to it had never connected, and the new r2 started
 * view 1 with r3 from r3's first join and answered a read from its empty state.
 */
export class ClusterStart {
  private readonly self: ReplicaId
  private readonly log: Logger
  private readonly initialView: View
  private fresh: boolean
  /** This run's incarnation, which a fresh peer names to confirm it heard this run. */
  private readonly incarnation: number
  /** The fresh peers heard from, with the incarnation of their latest fresh join. */
  private readonly heard = new Map<ReplicaId, number>()
  /** The fresh peers whose fresh join named this run's incarnation (see the class). */
  private readonly confirmed = new Set<ReplicaId>()
  /** Since when a majority of the configuration confirmed each other (see `shouldStart`). */
  private majoritySince: number | undefined
  /** Peers heard with more than one incarnation while this replica was fresh: never counted (see `joinedWhileOutside`). */
  private readonly restarted = new Set<ReplicaId>()
  /**
   * A peer that started the initial view knowing this run: one that confirmed it and serves in the initial view
   * (or changes it), or one whose heartbeats of the initial view name this run (`named`).
   */
  private peerStarted: { readonly by: ReplicaId; readonly named: boolean } | undefined
  /**
   * Evidence, short of proof, that a cluster runs without this run (see `noteMessage`), and since when: the
   * initial view served, or changed, by a peer that never confirmed this run, or a peer that gave up starting.
   */
  private evidence: { readonly by: ReplicaId; readonly what: PeerMessage['kind']; since: number | undefined } | undefined
  /** When this replica started the initial view without state: the fresh peers it had heard (see `startedKnowing`). */
  private knewAtStart: Record<ReplicaId, number> | undefined

  constructor(self: ReplicaId, initialView: View, fresh: boolean, log: Logger, incarnation: number) {
    this.self = self
    this.initialView = initialView
    this.fresh = fresh
    this.log = log
    this.incarnation = incarnation
  }

  /** True while this replica started without state and may still start a new cluster. */
  get isFresh(): boolean {
    return this.fresh
  }

  /**
   * The fresh peers this replica had heard, with their incarnations, when it started the initial view without
   * state; undefined if it did not. Its heartbeats of the initial view say so (`Heartbeat.started`): a peer named
   * with its current incarnation was heard in this run by a replica that then started, exactly what a fresh join
   * naming it (a confirmation) says, so that peer starts too (see `noteMessage`). Its own fresh joins naming them
   * may still be on their way, or lost: a link that was full, or still connecting.
   */
  get startedKnowing(): Readonly<Record<ReplicaId, number>> | undefined {
    return this.knewAtStart
  }

  /** This replica installed a view (or recovered one from its disk): it is not fresh any more. */
  ended(): void {
    this.fresh = false
  }

  /**
   * A message from `from` arrived. To a fresh replica, anything but another fresh replica's join or the initial
   * view's traffic is evidence of a cluster that has started already: it stops counting on starting one. Some
   * evidence is only second-hand, and waits out the grace (see `shouldStart`) in case a peer that started knowing
   * this run shows up: the initial view's traffic, or its view change, from a peer that never confirmed this run
   * (that peer started without this run: with an earlier run of this replica, whose promises this one lacks, or
   * without it), and the plain join of a peer that gave up starting. From a peer that confirmed this run, or whose
   * heartbeats of the initial view name it (`Heartbeat.started`), the traffic says that peer started with this
   * run: this replica starts too, without waiting out the grace.
   */
  noteMessage(from: ReplicaId, message: PeerMessage): void {
    if (!this.fresh) return
    if (message.kind === 'join' && message.fresh) return
    // A peer heard fresh in this run that now recovers the initial view at position 0 from its disk started the
    // cluster and restarted before anything was delivered (an orderer delivers in the initial view only once every
    // member, this replica included, holds the request): no cluster ran without this replica, which starts the
    // initial view with the other fresh replicas and brings the peer back. Found (world simulator, real time with
    // tight timing bounds, durable, seed 142): r3 started the cluster and crashed 0.3 ms later, before r1 and r2
    // had its confirmation; back from its disk it asked to be brought back, r1 and r2 took that for a running
    // cluster and asked to join it, and r3, the only replica with a state, could never gather a majority of votes:
    // nobody served, for ever, with every replica up.
    if (message.kind === 'recover' && message.view.id === this.initialView.id && message.position === 0 && this.heard.has(from) && !this.restarted.has(from)) return
    const initial = (message.kind === 'heartbeat' || message.kind === 'orderer') && message.view === this.initialView.id
    const endsInitial = message.kind === 'prepare' && message.view === this.initialView.id + 1
    // The initial view served, or changed, by a peer that confirmed this run: that peer started it (with this run).
    if ((initial || endsInitial) && this.confirmed.has(from)) {
      this.peerStarted ??= { by: from, named: false }
      return
    }
    // Its heartbeats of the initial view name this run: it heard this run fresh, then started (see `startedKnowing`).
    if (message.kind === 'heartbeat' && initial && message.started?.[this.self] === this.incarnation && !this.restarted.has(from)) {
      this.peerStarted ??= { by: from, named: true }
      return
    }
    // It gives up starting only if no peer that started knowing this run is heard within the grace: had that peer's
    // traffic come first, this replica would have started (see above), and which a link brings first is chance.
    // - The initial view served by a peer that never confirmed this run. Found (chaos, 5 real processes under load):
    //   r2, r3 and r4 started the cluster counting r1; r5 had started without it, and r1, 20 ms late, heard r5 first
    //   and asked to join instead; two amnesias later only r4 and r5 held a state and no view could ever form.
    // - Its view change, or the plain join of a peer that gave up starting on such evidence. Found (world simulator,
    //   7 replicas, links of 8 messages up to 1.5 s slow to connect, seed 12004351): r6 started counting r2, r3 and r7
    //   and began a view change at once (two of its links were full); r4 took the view change for a running cluster
    //   and asked to join, its join reached r1, r2 and r3 before anything of r6's, and they asked to join too: r6 and
    //   r7 alone held view 1, and no view could ever form.
    if (initial || endsInitial || (message.kind === 'join' && !message.fresh && message.leftView === undefined)) {
      this.evidence ??= { by: from, what: message.kind, since: undefined }
      return
    }
    this.fresh = false
    this.log.info(`replica '${this.self}' started without state and hears from a running cluster ('${message.kind}'); it asks to join it`)
  }

  /**
   * A join from `from` while this replica is outside any view: a fresh one that names this run counts toward
   * starting. True when `from` is a fresh peer not heard before: this replica answers it at once with its own
   * join, naming it, so that the two confirm each other within a round trip.
   *
   * A peer heard with another incarnation before (it restarted while the cluster was starting) never counts:
   * another replica may have started the cluster counting its earlier run, whose acknowledgements and promises
   * the new run lacks; a view change adds it (found by the simulator with the start's grace: r1 started with r2
   * and r3's first run, r3 restarted without state, and r2, still in its grace, started with the new r3, which
   * then served in view 1 with an empty orderer beside r1's order).
   */
  joinedWhileOutside(from: ReplicaId, m: PeerMessageOf<'join'>): boolean {
    if (!this.fresh || !m.fresh) return false
    const known = this.heard.get(from)
    if (known !== undefined && known !== m.incarnation) {
      this.restarted.add(from)
      this.confirmed.delete(from)
    }
    this.heard.set(from, m.incarnation)
    if (this.restarted.has(from)) return false
    if (m.knows?.[this.self] === this.incarnation) this.confirmed.add(from)
    return known !== m.incarnation
  }

  /** The fresh peers this replica heard (none that restarted), with their incarnations: what its own fresh join says it knows. */
  knows(): Record<ReplicaId, number> {
    return Object.fromEntries([...this.heard].filter(([replica]) => !this.restarted.has(replica)))
  }

  /**
   * True when this fresh replica of the initial view should start it: every replica of `configuration` is fresh
   * and confirmed it, or a majority did at least `graceMs` ago (at `now`).
   *
   * The grace lets a replica that starts a moment after a majority confirmed each other (a process slower to
   * listen) start with them. Once a majority started without it, it never can by itself (the rest are fewer than
   * a majority), and the initial view, which names it, cannot deliver without it: a view change must add it,
   * and a request submitted meanwhile is ordered again in the next view. Found with real processes: r1 and r2
   * started the cluster 10 ms before r3 listened; a view change added r3 two seconds later (the lock service's
   * and the dashboard's process tests waited for view 1 for ever). A majority whose other replicas stay silent
   * through the grace (down, or cut off) starts without them, as before.
   */
  shouldStart(configuration: readonly ReplicaId[], now: number, graceMs: number): boolean {
    if (!this.fresh || !this.initialView.members.includes(this.self)) return false
    // A peer that confirmed this run started the initial view: a majority of fresh replicas confirmed each other in
    // its eyes, and this run may be one it counted (the initial view delivers nothing until every member holds the
    // request, this one included). This replica starts too, whatever it heard itself: links to the others may still
    // be connecting. Found (world simulator, 5 durable replicas, links up to 1.5 s slow to connect, no fault, seed
    // 13): r1 started counting r2 and r4, r4 counting r1 and r3; r2 and r3 had confirmed too few peers to start, took
    // r1's view change for a running cluster and asked to join it; r1 and r4, fewer than a majority, waited for ever.
    const started = this.peerStarted
    if (started !== undefined) {
      const why = started.named ? `'${started.by}' named this run` : `${[started.by, this.self].sort().join(' and ')} confirmed each other`
      return this.starts(`replica '${this.self}' starts the new cluster in view ${this.initialView.id} that '${started.by}' started with this run (${why})`)
    }
    const evidence = this.evidence
    if (evidence !== undefined) {
      evidence.since ??= now
      if (now - evidence.since >= graceMs) {
        this.fresh = false
        if (evidence.what === 'heartbeat' || evidence.what === 'orderer') {
          this.log.info(`replica '${this.self}' started without state and hears '${evidence.by}' serve in view ${this.initialView.id}, which '${evidence.by}' started without this run; it asks to join it`)
        } else this.log.info(`replica '${this.self}' started without state and hears from a running cluster ('${evidence.what}'); it asks to join it`)
      }
      return false
    }
    // `confirmed` never holds this replica itself: each id is here once.
    const fresh = [...this.confirmed, this.self].filter((r) => configuration.includes(r))
    if (fresh.length < majorityOf(configuration.length)) {
      this.majoritySince = undefined
      return false
    }
    this.majoritySince ??= now
    if (fresh.length < configuration.length && now - this.majoritySince < graceMs) return false
    return this.starts(`replica '${this.self}' starts a new cluster in view ${this.initialView.id} with ${fresh.sort().join(', ')} (a majority started without state)`)
  }

  /** `shouldStart`'s yes: says why, and keeps the fresh peers heard for its heartbeats (see `startedKnowing`). */
  private starts(why: string): true {
    this.log.info(why)
    this.knewAtStart = this.knows()
    return true
  }
}
