import {
  ErrorCodes,
  LockstepError,
  crashTolerantOrderer,
  type CrashTolerantOrderer,
  type OrdererContext,
  type OrdererFactory,
  type RandomSource,
  type ReplicaId,
  type Request,
  type View,
} from '@lockstep/interface'
import { parseRealtimeMessage, type RealtimeEntry, type RealtimeMessage } from './messages'
import { StampSource, clockMicros, compareStamps } from './stamp'

/** Options of the real-time orderer. Times are in milliseconds of the replicas' clocks. */
export interface RealtimeOptions {
  /** The most one message takes from one replica to another (one hop). Default 100. */
  readonly maxDelayMs?: number
  /** The most two replicas' clocks differ. Default 10. */
  readonly maxSkewMs?: number
  /**
   * Δ of Test I: a request stamped `s` is stable once the local clock reads `s + Δ`. Default and least value
   * `2 * maxDelayMs + maxSkewMs`: two hops (a request whose origin crashed mid-broadcast is relayed) plus skew.
   */
  readonly deltaMs?: number
  /** An idle replica sends its stamp floor and acknowledgements to each peer at least this often. Default 20. */
  readonly heartbeatMs?: number
  /** Most requests carried by one message. Default 4096. */
  readonly maxBatch?: number
}

/** A clock-offset estimate of one peer (Cristian's algorithm). */
export interface ClockOffset {
  /** The peer's clock minus this replica's, estimated from the last probe. */
  readonly offsetMs: number
  /** The probe's round trip; the estimate is off by at most half of it. */
  readonly roundTripMs: number
  /** This replica's clock when the probe's answer arrived. */
  readonly atMs?: number
}

/** Counters of a real-time orderer (they survive view changes). */
export interface RealtimeStats {
  /** Requests that arrived at or below the last delivered stamp (after their deadline). */
  readonly timingViolations: number
  /**
   * Times this replica found its own clock off from a majority of the view, beyond `maxSkewMs` plus half the
   * probe's round trip (it then stopped delivering).
   */
  readonly skewViolations: number
  /** Probes that found one peer's clock off while a majority of the view agreed with this replica's clock (that peer stops itself). */
  readonly peerSkewSeen: number
  /**
   * Probes that found peers' clocks off while neither this replica's clock nor theirs had a majority on its side (a
   * view shrunk to a bare majority): this replica then delivers by Test II only, which no clock can mislead, until
   * its clock agrees with a majority of the view again.
   */
  readonly skewUnattributed: number
  /** Requests delivered because the clock passed their stamp + Δ while some member's floor still lagged (Test II did not hold). */
  readonly deliveredByTestI: number
  /** Requests delivered because every member had sent a clock-based stamp floor at or above their stamp. */
  readonly deliveredByTestII: number
  /** Requests delivered by the view-change flush. */
  readonly deliveredByFlush: number
  /** Requests relayed to other members on first receipt. */
  readonly relayed: number
  /** True while this replica has stopped delivering after a timing fault (until a state transfer restarts it). */
  readonly stopped: boolean
  /**
   * True once probes answered since this replica started (or restarted after a timing fault) put its clock within
   * the bound of a majority of the view's. Until then it delivers by Test II only, never by its clock alone.
   */
  readonly clockChecked: boolean
}

/** `[origin, stamp, n, request]`: one request in a report or a boundary. */
export type RealtimeReportEntry = readonly [origin: ReplicaId, stamp: number, n: number, request: Request]

/** What a frozen real-time orderer reports to the view change. */
export interface RealtimeReport {
  /** Per origin, how many of its requests this replica delivered in the view (always a prefix). */
  readonly delivered: Readonly<Record<ReplicaId, number>>
  /** Every request held and not delivered. */
  readonly pending: readonly RealtimeReportEntry[]
  /**
   * Requests the reporter delivered in the last 2Δ before it froze: sent by earlier versions as a second source
   * beside each member's own queue (see `install`), still merged when present, no longer sent.
   */
  readonly recent?: readonly RealtimeReportEntry[]
}

/** The agreed end of a view: every origin's requests up to `maxDelivered`, plus `entries`, in stamp order. */
export interface RealtimeBoundary {
  readonly maxDelivered: Readonly<Record<ReplicaId, number>>
  readonly entries: readonly RealtimeReportEntry[]
}

/**
 * A request held until delivered: its wire form, `[stamp, origin, n, request]`, the one tuple a replica sends its
 * peers (its own requests) or received (relays forward it as it came), so holding it allocates nothing more.
 */
type HeldEntry = RealtimeEntry

/** What a replica keeps of one peer in a view. */
interface PeerLink {
  readonly id: ReplicaId
  /** acks[o]: how many of origin `members[o]`'s requests the peer reported holding without a gap. */
  readonly acks: number[]
  /** The largest stamp floor the peer advertised in this view; -1 before its first. */
  floor: number
  /** The last floor this replica sent it. */
  sentFloor: number
  /** Requests to send it, in their wire form: this replica's own (one tuple for every peer), and relays (as they arrived). */
  outbox: RealtimeEntry[]
  /** It is owed a message even without requests (acknowledgements, a heartbeat). */
  ackOwed: boolean
  /** When this replica last sent it a message in this view. */
  lastSentAt: number
  /** The clock reading of a probe it sent that this replica has not answered yet. */
  probeAnswer: number | undefined
  /** The next message to it carries a probe. */
  probeOwed: boolean
}

function newLink(id: ReplicaId, members: readonly ReplicaId[]): PeerLink {
  return { id, acks: members.map(() => 0), floor: -1, sentFloor: 0, outbox: [], ackOwed: false, lastSentAt: -Infinity, probeAnswer: undefined, probeOwed: false }
}

/** One origin's requests held and not delivered, by number (so in stamp order); relays may fill them in out of order. */
class OriginQueue {
  /** Entries sorted by n; before `head` delivered (their slots cleared, so they can be collected young). */
  private entries: (HeldEntry | undefined)[] = []
  private head = 0
  /** Requests 1..received are all held or delivered (what this replica acknowledges). */
  received = 0
  /** Requests 1..delivered are delivered. */
  delivered = 0
  /** The origin's requests received from the origin itself (its FIFO link): numbered 1, 2, … */
  direct = 0
  /** Stamp of the last request received from the origin itself. */
  directTime = 0

  /** True if request `n` was received before (held or delivered). */
  has(n: number): boolean {
    // 1..received are all held or delivered, received + 1 is not; above it only a search tells (relays fill gaps).
    if (n <= this.received) return true
    return n > this.received + 1 && this.indexOf(n) >= 0
  }

  add(entry: HeldEntry): void {
    let i = this.entries.length
    while (i > this.head && this.entries[i - 1]![2] > entry[2]) i--
    if (i === this.entries.length) this.entries.push(entry)
    else this.entries.splice(i, 0, entry)
    // Held entries are sorted by n and distinct, so the run received+1, received+2, … starts at the first held one above it.
    if (entry[2] === this.received + 1) {
      let j = i + 1
      this.received = entry[2]
      while (j < this.entries.length && this.entries[j]![2] === this.received + 1) {
        this.received++
        j++
      }
    }
  }

  peek(): HeldEntry | undefined {
    return this.entries[this.head]
  }

  shift(): HeldEntry {
    const entry = this.entries[this.head]!
    this.entries[this.head++] = undefined
    this.delivered = entry[2]
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head)
      this.head = 0
    }
    return entry
  }

  get size(): number {
    return this.entries.length - this.head
  }

  undelivered(): HeldEntry[] {
    return this.entries.slice(this.head) as HeldEntry[]
  }

  /** Index of held request `n` in `entries`, or -1 (binary search of the held part). */
  private indexOf(n: number): number {
    let lo = this.head
    let hi = this.entries.length - 1
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1
      const at = this.entries[mid]![2]
      if (at === n) return mid
      if (at < n) lo = mid + 1
      else hi = mid - 1
    }
    return -1
  }
}

/**
 * How many members of a view of `viewSize` must hold a request before any replica delivers it: all of them.
 * The view-change flush merges the reports of the *live* members among a majority of the configuration,
 * which can be a single member (the others restarted from their disks, where undelivered requests are not
 * kept, or are not in the view at all), so anything fewer than every member could leave a delivered request
 * out of the flush (the world simulator found that: 3 replicas, durable, seed 1130, with a majority rule).
 */
export function holdersNeeded(viewSize: number): number {
  return Math.max(1, viewSize)
}

/** How many heartbeat intervals between two clock probes of the same peer. */
const PROBE_EVERY_HEARTBEATS = 4

/**
 * An estimate of a peer's clock older than this many probe intervals no longer counts when this replica asks
 * whether its own clock is the one off: the peer stopped answering (it crashed, or is cut off), and what its
 * clock read then says nothing of now (it may have been the skewed one, since set right).
 */
const ESTIMATE_FRESH_PROBES = 3

/**
 * Total order from real-time clocks (Schneider §3.2.2), made safe for crashes
 * over real networks.
 *
 * A replica stamps each client request with its clock reading (µs, kept
 * strictly increasing; ties broken by replica id) and sends it to every
 * member; every member relays a request to the others the first time it
 * receives it, so all hold it within two hops even if its origin crashed
 * mid-broadcast. Every message carries the sender's stamp floor (all its
 * later stamps are above it) and its acknowledgement vector. A request r is
 * delivered, in stamp order, once
 * - **every member** of the view has acknowledged holding r (see `holdersNeeded`), so the view-change
 *   flush (the union of the live reporters' holdings, which may be a single member) keeps every request
 *   delivered anywhere; and
 * - **Test II**: every member, this replica included, has a *clock-based* stamp floor at or above `r.stamp`
 *   (its clock passed the stamp, or it stamped above it itself) and sent it over its FIFO link, or
 *   **Test I**: the local clock reads at least `r.stamp + Δ`.
 *
 * Receiving a request does not raise a replica's floor (no Lamport LC2), so an acknowledgement of r does not
 * by itself satisfy Test II. **When Test I, not Test II, decides:** every member holds r, but some member's
 * latest floor here is still below r's stamp (its clock was behind r's origin's clock, within the skew bound,
 * when it last wrote, or its later messages are slow), and this replica's clock reaches `r.stamp + Δ` before
 * a floor at or above the stamp arrives from it. With clocks in step and heartbeats much shorter than Δ,
 * Test II nearly always decides first (the simulator's replicas share one clock: there Test I is rare).
 *
 * Test I rests on the timing assumptions (`maxDelayMs`, `maxSkewMs`). When a
 * request arrives at or below the last delivered stamp, or a probe shows a
 * peer's clock beyond the skew bound, they broke: this replica stops
 * delivering at once, logs why at error level, and calls `ctx.diverged`
 * (the engine rejoins it by state transfer).
 */
export class RealtimeOrderer implements CrashTolerantOrderer {
  readonly [crashTolerantOrderer] = true as const
  readonly name = 'realtime'
  /** Its order rests on timing bounds: the engine releases replies only once a majority delivered the same order. */
  readonly timingAssumptions = true
  private readonly ctx: OrdererContext
  private readonly maxDelayMs: number
  private readonly maxSkewMs: number
  private readonly deltaMs: number
  private readonly deltaMicros: number
  private readonly heartbeatMs: number
  private readonly maxBatch: number
  private readonly stamps = new StampSource()
  private members: readonly ReplicaId[] = []
  private peers: readonly ReplicaId[] = []
  /** How many members must hold a request before it is delivered: every member (see `holdersNeeded`). */
  private holders = 1
  private queues = new Map<ReplicaId, OriginQueue>()
  /** The queues in the order of `members` (an origin's index in `members` is its queue's here). */
  private queueList: OriginQueue[] = []
  /** What this replica keeps of each peer in this view, in the order of `peers` (looped over per request: no `Map`). */
  private links: PeerLink[] = []
  /** Each peer's link by id (once per message received). */
  private linkOf = new Map<ReplicaId, PeerLink>()
  /** The stamp of the last request delivered in this view (`lastOrigin` undefined before the first). */
  private lastTime = 0
  private lastOrigin: ReplicaId | undefined
  private frozen = false
  private stopped = false
  /** Per peer, when this replica last probed its clock (kept across views). */
  private lastProbeAt = new Map<ReplicaId, number>()
  private readonly clockOffsets = new Map<ReplicaId, ClockOffset>()
  private delivering = false
  /** Its clock agreed with a majority's by probes taken since `clockCheckFrom` (see `RealtimeStats.clockChecked`). */
  private clockChecked = false
  private clockCheckFrom = -Infinity
  /** The highest clock reading taken (ms): a reading more than `maxSkewMs` below it is a clock that went back. */
  private clockHigh = -Infinity
  /**
   * Test I waits until the clock reads this (ms): set when two clock readings are more than `maxDelayMs` apart, a
   * stall of this replica (a long GC pause, a stopped process), after which messages that waited for it may still be
   * unread (see `readClock`).
   */
  private testIHeldUntil = -Infinity
  private counters = { timingViolations: 0, skewViolations: 0, peerSkewSeen: 0, skewUnattributed: 0, deliveredByTestI: 0, deliveredByTestII: 0, deliveredByFlush: 0, relayed: 0 }

  constructor(ctx: OrdererContext, options: RealtimeOptions = {}) {
    this.ctx = ctx
    this.maxDelayMs = options.maxDelayMs ?? 100
    this.maxSkewMs = options.maxSkewMs ?? 10
    this.heartbeatMs = options.heartbeatMs ?? 20
    this.maxBatch = options.maxBatch ?? 4096
    const invalid = (option: string, rule: string, value: unknown) => new LockstepError(ErrorCodes.INVALID_CONFIG, `realtime: ${option} must be ${rule} (got ${String(value)})`, { path: option })
    if (!(Number.isFinite(this.maxDelayMs) && this.maxDelayMs > 0)) throw invalid('maxDelayMs', 'a number > 0', options.maxDelayMs)
    if (!(Number.isFinite(this.maxSkewMs) && this.maxSkewMs >= 0)) throw invalid('maxSkewMs', 'a number >= 0', options.maxSkewMs)
    const leastDeltaMs = 2 * this.maxDelayMs + this.maxSkewMs
    this.deltaMs = options.deltaMs ?? leastDeltaMs
    if (!(Number.isFinite(this.deltaMs) && this.deltaMs >= leastDeltaMs)) {
      throw invalid('deltaMs', `at least 2 * maxDelayMs + maxSkewMs = ${leastDeltaMs} (two hops, because of relaying, plus skew)`, options.deltaMs)
    }
    if (!(Number.isFinite(this.heartbeatMs) && this.heartbeatMs > 0)) throw invalid('heartbeatMs', 'a number > 0', options.heartbeatMs)
    if (!Number.isSafeInteger(this.maxBatch) || this.maxBatch < 1) throw invalid('maxBatch', 'an integer >= 1', options.maxBatch)
    this.deltaMicros = Math.ceil(this.deltaMs * 1000)
    this.startView(ctx.view())
    this.uncheckClock()
  }

  submit(request: Request): void {
    if (this.frozen) return // the engine holds submissions during a view change
    const now = this.readClock()
    // Stopped (its clock went back, or its order departed): a stamp now could reach the others below what they
    // delivered; the engine rejoins this replica by state transfer, and the client's retry goes to another.
    if (this.stopped) return
    const time = this.stamps.next(now)
    const own = this.queues.get(this.ctx.self)!
    const n = own.received + 1
    const entry: HeldEntry = [time, this.ctx.self, n, request]
    own.add(entry)
    own.direct = n
    own.directTime = time
    for (const link of this.links) link.outbox.push(entry)
    this.deliverStable(now)
  }

  receive(from: ReplicaId, raw: unknown): void {
    if (this.frozen) return
    if (!this.queues.has(from) || from === this.ctx.self) {
      throw new LockstepError(ErrorCodes.UNKNOWN_PEER, `realtime: message from '${from}', which is not a peer in view ${this.ctx.view().id}`)
    }
    const message = parseRealtimeMessage(from, raw)
    this.checkEntries(from, message)
    if (message.r) {
      const links = this.links
      let added = false
      const entries = message.r
      // Entries come in runs of one origin: its queue is looked up once per run.
      let queueOrigin: ReplicaId | undefined
      let queue!: OriginQueue // set at the first entry (checkEntries found every origin a member)
      for (let i = 0; i < entries.length; i++) {
        const wire = entries[i]!
        const time = wire[0]
        const origin = wire[1]
        const n = wire[2]
        const request = wire[3]
        if (origin !== queueOrigin) {
          queue = this.queues.get(origin)!
          queueOrigin = origin
        }
        if (origin === from && n > queue.direct) {
          queue.direct = n
          queue.directTime = time
        }
        if (queue.has(n)) continue // a copy (the origin's and the relays')
        // Unlike Lamport's LC2, receiving a stamp does not raise this replica's floor: the floor it advertises
        // stays clock-based (its clock reading, or its last own stamp), so Test II at a peer means what
        // Schneider means, "this member's clock passed r's stamp", and a member whose clock is behind delays
        // Test II (Test I may decide first). Raising it here would make every acknowledgement satisfy Test II.
        const lastOrigin = this.lastOrigin
        if (lastOrigin !== undefined && compareStamps(time, origin, this.lastTime, lastOrigin) <= 0) {
          this.timingFault('timingViolations', `replica '${this.ctx.self}' received request ${request.client}#${request.seq} (from '${origin}', stamp ${time} µs) from '${from}' at or below the stamp of the last request it delivered (${this.lastTime} µs from '${lastOrigin}'): it arrived after its deadline, the timing assumption (maxDelayMs ${this.maxDelayMs}, maxSkewMs ${this.maxSkewMs}) broke, and this replica stops delivering`, { request: `${request.client}#${request.seq}`, origin, stamp: time, lastDelivered: this.lastTime, from })
        }
        queue.add(wire)
        added = true
        // Relay on first receipt, so every member holds it within two hops even if its origin crashed mid-broadcast.
        for (const link of links) {
          if (link.id === from || link.id === origin) continue
          link.outbox.push(wire)
          this.counters.relayed++
        }
      }
      if (added) for (const link of links) link.ackOwed = true
    }
    const sender = this.linkOf.get(from)!
    if (message.c > sender.floor) sender.floor = message.c
    const acked = sender.acks
    const members = this.members
    for (let o = 0; o < members.length; o++) {
      const count = message.a[members[o]!]
      if (count !== undefined && count > acked[o]!) acked[o] = count
    }
    if (message.p !== undefined) sender.probeAnswer = message.p
    if (message.q !== undefined) this.probeAnswered(from, message.q[0], message.q[1])
    this.deliverStable()
  }

  tick(): void {
    if (this.frozen) return
    const now = this.readClock()
    for (const link of this.links) {
      if (now - link.lastSentAt >= this.heartbeatMs) link.ackOwed = true
      if (now - (this.lastProbeAt.get(link.id) ?? -Infinity) >= PROBE_EVERY_HEARTBEATS * this.heartbeatMs) link.probeOwed = true
    }
    this.deliverStable(now) // Test I: time alone may have made requests stable
    this.flush()
  }

  flush(): void {
    if (this.frozen) return
    const now = this.readClock()
    let floor: number | undefined
    let vector: Record<ReplicaId, number> | undefined
    for (const link of this.links) {
      const peer = link.id
      const out = link.outbox
      const answer = link.probeAnswer
      const probe = link.probeOwed
      if (out.length === 0 && !link.ackOwed && answer === undefined && !probe) continue
      // The floor is advertised after every request this replica stamped below it (FIFO): Test II at the peer.
      floor ??= this.stamps.advance(now)
      vector ??= this.ackVector()
      let sentFloor = link.sentFloor
      const batches = Math.max(1, Math.ceil(out.length / this.maxBatch))
      for (let i = 0; i < batches; i++) {
        const batch = batches === 1 ? out : out.slice(i * this.maxBatch, (i + 1) * this.maxBatch)
        const lastBatch = i === batches - 1
        // An earlier batch may only claim the floor of the own requests it carries: later batches hold more (the
        // last one claims `floor`, so a single batch needs no scan).
        if (!lastBatch) for (const entry of batch) if (entry[1] === this.ctx.self) sentFloor = Math.max(sentFloor, entry[0])
        const message: { -readonly [K in keyof RealtimeMessage]: RealtimeMessage[K] } = { t: 'realtime', c: lastBatch ? floor : sentFloor, a: lastBatch ? vector : {} }
        if (batch.length > 0) message.r = batch
        if (lastBatch && probe) message.p = now
        if (lastBatch && answer !== undefined) message.q = [answer, now]
        this.ctx.send(peer, message)
      }
      link.sentFloor = floor
      if (out.length > 0) link.outbox = [] // the message holds the array sent
      link.lastSentAt = now
      if (probe) this.lastProbeAt.set(peer, now)
    }
    for (const link of this.links) {
      link.ackOwed = false
      link.probeOwed = false
      link.probeAnswer = undefined
    }
  }

  viewChanged(view: View): void {
    // A fresh start after state transfer: the state this replica serves from is trusted again.
    const wasStopped = this.stopped
    this.stopped = false
    this.startView(view)
    // Its clock is not, if that is what stopped it (or may have): the probes taken before do not count.
    if (wasStopped) this.uncheckClock()
  }

  freeze(): RealtimeReport {
    this.frozen = true
    const delivered: Record<ReplicaId, number> = {}
    const pending: RealtimeReportEntry[] = []
    for (let i = 0; i < this.members.length; i++) {
      const origin = this.members[i]!
      const queue = this.queueList[i]!
      delivered[origin] = queue.delivered
      for (const [time, , n, request] of queue.undelivered()) pending.push([origin, time, n, request])
    }
    return { delivered, pending }
  }

  mergeReports(reports: readonly unknown[]): RealtimeBoundary {
    const maxDelivered: Record<ReplicaId, number> = {}
    const entries = new Map<string, RealtimeReportEntry>()
    for (const raw of reports) {
      const report = raw as RealtimeReport
      for (const [origin, count] of Object.entries(report.delivered)) maxDelivered[origin] = Math.max(maxDelivered[origin] ?? 0, count)
      for (const entry of report.pending) entries.set(`${entry[0]}\u0000${entry[2]}`, entry)
      for (const entry of report.recent ?? []) entries.set(`${entry[0]}\u0000${entry[2]}`, entry)
    }
    const sorted = [...entries.values()].sort((a, b) => compareStamps(a[1], a[0], b[1], b[0]))
    return { maxDelivered, entries: sorted }
  }

  /**
   * The view-change flush, as in the Lamport orderer. Every request delivered anywhere in the old view was
   * acknowledged by every member, so every member of the old view holds it in its own queue (delivered or not):
   * the boundary counts it in `maxDelivered` and lists what a reporter holds undelivered. Each member delivers, in
   * stamp order, the part it has not delivered; a member that lacks part of the delivered prefix (its queue is
   * gone: it restarted), or that stopped after a timing fault, returns false and rejoins by state transfer.
   * (Reports no longer list the reporter's recent deliveries as a second source: a member that holds every
   * delivered request needs none, and one that restarted lacks more than the last 2Δ. Keeping them held every
   * request for 2Δ at every replica, a quarter of the orderer's throughput in one process.)
   */
  install(view: View, raw: unknown): boolean {
    if (this.stopped) return false
    const boundary = raw as RealtimeBoundary
    const candidates = new Map<string, RealtimeReportEntry>()
    for (let i = 0; i < this.members.length; i++) {
      const origin = this.members[i]!
      for (const entry of this.queueList[i]!.undelivered()) {
        const [time, , n, request] = entry
        if (n <= (boundary.maxDelivered[origin] ?? 0)) candidates.set(`${origin}\u0000${n}`, [origin, time, n, request])
      }
    }
    for (const entry of boundary.entries) candidates.set(`${entry[0]}\u0000${entry[2]}`, entry)
    const deliveredCount = (origin: ReplicaId) => this.queues.get(origin)?.delivered ?? 0
    for (const [origin, max] of Object.entries(boundary.maxDelivered)) {
      for (let n = deliveredCount(origin) + 1; n <= max; n++) {
        if (!candidates.has(`${origin}\u0000${n}`)) return false
      }
    }
    const toDeliver = [...candidates.values()]
      .filter(([origin, , n]) => n > deliveredCount(origin))
      .sort((a, b) => compareStamps(a[1], a[0], b[1], b[0]))
    const lastOrigin = this.lastOrigin
    const lastTime = this.lastTime
    const late = lastOrigin !== undefined && toDeliver.find(([origin, time]) => compareStamps(time, origin, lastTime, lastOrigin) <= 0)
    if (late) {
      // The old view delivered a request this replica never received, below what it delivered itself: its order diverged.
      this.timingFault('timingViolations', `replica '${this.ctx.self}' ends view ${this.ctx.view().id} with request ${late[3].client}#${late[3].seq} (from '${late[0]}', stamp ${late[1]} µs), which it never received, at or below the stamp of the last request it delivered (${lastTime} µs from '${lastOrigin}'): its order diverged, it needs state transfer`, { request: `${late[3].client}#${late[3].seq}`, origin: late[0], stamp: late[1], lastDelivered: lastTime })
      return false
    }
    this.frozen = true
    for (const [, , , request] of toDeliver) {
      this.counters.deliveredByFlush++
      this.ctx.deliver(request)
    }
    this.startView(view)
    return true
  }

  pendingCount(): number {
    let count = 0
    for (const queue of this.queueList) count += queue.size
    return count
  }

  /** Counters: timing and skew violations, deliveries by Test I, Test II and the flush, relays. */
  stats(): RealtimeStats {
    return { ...this.counters, stopped: this.stopped, clockChecked: this.clockChecked }
  }

  /** Per peer, the clock offset estimated by the last probe and that probe's round trip. */
  offsets(): Record<ReplicaId, ClockOffset> {
    return Object.fromEntries(this.clockOffsets)
  }

  /** Δ in milliseconds (the option, or its default). */
  get delta(): number {
    return this.deltaMs
  }

  /** Starts a view with empty queues; stamps keep growing with the clock. */
  private startView(view: View): void {
    this.frozen = false
    this.members = [...view.members]
    this.peers = this.members.filter((m) => m !== this.ctx.self)
    this.holders = holdersNeeded(this.members.length)
    this.queues = new Map()
    this.queueList = []
    for (const member of this.members) {
      const queue = new OriginQueue()
      this.queues.set(member, queue)
      this.queueList.push(queue)
    }
    this.links = this.peers.map((id) => newLink(id, this.members))
    this.linkOf = new Map(this.links.map((link) => [link.id, link]))
    this.lastTime = 0
    this.lastOrigin = undefined
  }

  /** Delivers, in stamp order, every request that is stable. `now`: the clock as the caller just read it. */
  private deliverStable(now: number = this.readClock()): void {
    if (this.delivering || this.frozen || this.stopped) return // deliver() may re-enter through the engine; the outer loop continues
    this.delivering = true
    try {
      // This replica's own floor rises to its clock: its later stamps are above it, whatever the clock does next.
      // Test II counts it like a peer's; after Test I it is above the delivered stamp (the clock passed stamp + Δ).
      this.stamps.advance(now)
      const queues = this.queueList
      while (!this.stopped) {
        let best: HeldEntry | undefined
        let bestIndex = -1
        for (let o = 0; o < queues.length; o++) {
          const head = queues[o]!.peek()
          if (head && (!best || compareStamps(head[0], head[1], best[0], best[1]) < 0)) {
            best = head
            bestIndex = o
          }
        }
        if (!best) return
        const bestQueue = queues[bestIndex]!
        // An earlier request of the same origin (a lower stamp) has not arrived yet.
        if (best[2] !== bestQueue.delivered + 1) return
        if (!this.heldByEnough(best, bestIndex)) return
        const byTestII = this.testII(best)
        if (!byTestII && !this.testI(best)) return
        bestQueue.shift()
        this.lastTime = best[0]
        this.lastOrigin = best[1]
        if (byTestII) this.counters.deliveredByTestII++
        else this.counters.deliveredByTestI++
        this.ctx.deliver(best[3])
      }
    } finally {
      this.delivering = false
    }
  }

  /**
   * Test I: the local clock passed the stamp by Δ, so every lower stamp has arrived if the timing assumptions hold.
   * Only once this replica's clock was checked against a majority's (`clockChecked`): a replica that starts, or
   * rejoins after a timing fault, with its clock far ahead would otherwise deliver by it before any probe tells.
   */
  private testI(entry: HeldEntry): boolean {
    const now = this.readClock()
    return this.clockChecked && now >= this.testIHeldUntil && clockMicros(now) >= entry[0] + this.deltaMicros && !this.memberClockOff(now)
  }

  /**
   * Whether a fresh probe puts some member's clock beyond the bound. Test I rests on every member stamping within
   * the bound of real time; a member whose clock is behind may stamp a request below one this replica would
   * deliver by its own clock, and when that request came this replica would stop as if its own order had departed,
   * while the member at fault went on. Found (world simulator, tight bounds: Δ 55 ms, r2's clock slowed until it
   * was 106 ms behind): r1 and r3 saw r2's clock off but delivered c1#2 by Test I at position 7 and answered it;
   * r2's c2#3 came stamped below it; r1 and r3 stopped and took r2's state, where c2#3 was at position 7 (a history
   * that is not linearizable). While a member is off, this replica delivers by Test II only (every member's floor
   * passed the stamp): slower by the skew, in the same order as the member at fault, which finds its clock off by
   * its own probes and stops.
   */
  private memberClockOff(now: number): boolean {
    return this.peers.some((peer) => this.beyondBound(this.freshEstimate(peer, now)))
  }

  /** `member`'s clock estimate, if a probe answered within the last few probe intervals (an older one says nothing of now). */
  private freshEstimate(member: ReplicaId, now: number): ClockOffset | undefined {
    const estimate = this.clockOffsets.get(member)
    return estimate?.atMs !== undefined && now - estimate.atMs <= ESTIMATE_FRESH_PROBES * PROBE_EVERY_HEARTBEATS * this.heartbeatMs ? estimate : undefined
  }

  /**
   * The clock, read for a stamp, a floor or Test I. A reading more than `maxSkewMs` below the highest one taken is a
   * clock that went back (a step of the system clock, or a fault): this replica's stamps would fall behind its
   * peers' clocks, its requests would reach them below what they delivered by Test I, and they would stop as if
   * their own order had departed while this replica, the one at fault, went on. Found (world simulator, tight
   * bounds: Δ 55 ms, a skew fault that set r2's clock back 106 ms): r1 and r3, a majority, delivered c1#2 at
   * position 7 and answered it; r2's next request came stamped below it; r1 and r3 stopped and took r2's state,
   * in which c2#3 was at position 7: a history that is not linearizable. Probes find a skew only every few
   * heartbeats; a clock that went back is found here, before it stamps anything. The highest reading is kept
   * across a restart: until the clock is back within the bound of it, this replica stops again at once.
   */
  private readClock(): number {
    const now = this.ctx.clock.now()
    // The engine reads the clock at least every heartbeat (its tick). Readings more than one hop's bound apart are a
    // stall of this replica (a GC pause, SIGSTOP): messages that reached it meanwhile wait unread, and a request in
    // one may be stamped below what its clock would now deliver by Test I (found: world simulator, seed 368 of
    // real time, skew, drift, replace, delay and pause, durable: r1, woken after 2.5 s, delivered three positions by
    // its clock before it read what waited). Test I waits one hop's bound, while the replica reads what waited.
    if (now - this.clockHigh > this.maxDelayMs && this.clockHigh > -Infinity) this.testIHeldUntil = now + this.maxDelayMs
    if (now > this.clockHigh) this.clockHigh = now
    else if (now < this.clockHigh - this.maxSkewMs && !this.stopped) {
      const back = this.clockHigh - now
      this.timingFault('skewViolations', `replica '${this.ctx.self}' finds its clock went back by ${back.toFixed(3)} ms, beyond maxSkewMs ${this.maxSkewMs}: its stamps would fall behind its peers' clocks, and this replica stops delivering`, { wentBackMs: back, maxSkewMs: this.maxSkewMs })
    }
    return now
  }

  /** Test I waits for probes answered from now on (see `RealtimeStats.clockChecked`). */
  private uncheckClock(): void {
    this.clockCheckFrom = this.ctx.clock.now()
    this.clockChecked = false
    this.checkClock()
  }

  /**
   * The members whose clocks count when this replica judges its own: the view's, but for spares (members outside
   * the configuration, which no majority counts, see `OrdererContext.configuration`); this replica always.
   */
  private clockJudges(): readonly ReplicaId[] {
    const members = this.ctx.view().members
    const configured = this.ctx.configuration?.()
    return configured === undefined ? members : members.filter((m) => m === this.ctx.self || configured.includes(m))
  }

  /** Sets `clockChecked` once this replica and peers whose estimates since `clockCheckFrom` are in bound make a majority of the judges. */
  private checkClock(): void {
    if (this.clockChecked) return
    const members = this.clockJudges()
    let agreeing = 0
    for (const member of members) {
      if (member === this.ctx.self) {
        agreeing++
        continue
      }
      const estimate = this.clockOffsets.get(member)
      if (estimate?.atMs !== undefined && estimate.atMs >= this.clockCheckFrom && !this.beyondBound(estimate)) agreeing++
    }
    if (agreeing < Math.floor(members.length / 2) + 1) return
    this.clockChecked = true
    this.ctx.log.debug(`replica '${this.ctx.self}' finds its clock within maxSkewMs ${this.maxSkewMs} of a majority of the view: it may deliver by the clock (Test I)`)
  }

  /**
   * Test II: every member, this replica included, will only stamp above `entry` from now on (its clock-based
   * floor passed the stamp), and sent everything it stamped below over its FIFO link.
   */
  private testII(entry: HeldEntry): boolean {
    const time = entry[0]
    if (this.stamps.floor < time) return false
    for (const link of this.links) if (link.floor < time) return false
    return true
  }

  /** Every member holds the request (of origin `members[origin]`), this replica included (see `holdersNeeded`). */
  private heldByEnough(entry: HeldEntry, origin: number): boolean {
    let holders = 1
    const n = entry[2]
    for (const link of this.links) if (link.acks[origin]! >= n) holders++
    return holders >= this.holders
  }

  private ackVector(): Record<ReplicaId, number> {
    const vector: Record<ReplicaId, number> = {}
    for (const [origin, queue] of this.queues) vector[origin] = queue.received
    return vector
  }

  private probeAnswered(from: ReplicaId, sentAtMs: number, peerClockMs: number): void {
    // Cristian: the peer read its clock about halfway through the round trip.
    const now = this.ctx.clock.now()
    const roundTripMs = now - sentAtMs
    if (roundTripMs < 0) throw new LockstepError(ErrorCodes.MALFORMED_MESSAGE, `realtime message from '${from}': q answers a probe sent at ${sentAtMs} ms, after now (${now} ms)`, { path: 'q' })
    const offsetMs = peerClockMs - (sentAtMs + now) / 2
    this.clockOffsets.set(from, { offsetMs, roundTripMs, atMs: now })
    if (!this.beyondBound({ offsetMs, roundTripMs })) {
      this.checkClock()
      return
    }
    // A probe cannot tell whose clock is off. This replica blames itself only when its clock disagrees with a
    // majority of the view (every healthy replica then agrees with a majority, so one skewed replica stops
    // alone); a single peer off is that peer's to find out, and is only counted here. Spares do not count, either
    // way: skewed spares agreeing with a skewed member would keep it going.
    const members = this.clockJudges()
    const fresh = (m: ReplicaId) => this.freshEstimate(m, now)
    const agreeing = members.filter((m) => m === this.ctx.self || !this.beyondBound(fresh(m))).length
    if (agreeing >= Math.floor(members.length / 2) + 1) {
      this.counters.peerSkewSeen++
      this.ctx.log.warn(`replica '${this.ctx.self}' finds the clock of '${from}' off by ${offsetMs.toFixed(3)} ms (round trip ${roundTripMs.toFixed(3)} ms), beyond maxSkewMs ${this.maxSkewMs}; a majority of the view agrees with this replica's clock, so '${from}' is the one off`, { peer: from, offsetMs, roundTripMs, maxSkewMs: this.maxSkewMs })
      return
    }
    const configured = this.ctx.configuration?.()
    const off = members.filter((m) => m !== this.ctx.self && this.beyondBound(fresh(m)))
    // This replica's own clock is off only if a majority of the configuration says so: F skewed clocks can be a
    // majority of a view shrunk to F + 1 members, never of the configuration. Short of that (two members, one of
    // them skewed: neither can tell whose clock it is), it stops delivering by its clock and keeps its state: Test II
    // does not rest on clocks. Found: in such views the correct replica blamed itself and dropped its state while the
    // skewed one went on; with every member of a later two-member view doing so, an answered request was lost
    // (`lockstep sim --machine apps/lock-service/specs/semaphore.sm --replicas 3 --order realtime --faults
    // delay,client-restart,skew,membership --seed 576`), and clusters stalled with every replica asking to join.
    if (off.length < Math.floor((configured?.length ?? this.ctx.configurationSize?.() ?? members.length) / 2) + 1) {
      if (this.clockChecked) {
        this.counters.skewUnattributed++
        this.ctx.log.warn(`replica '${this.ctx.self}' finds its clock off from ${off.map((m) => `'${m}' (${this.clockOffsets.get(m)!.offsetMs.toFixed(3)} ms)`).join(', ')} beyond maxSkewMs ${this.maxSkewMs}, and neither side has a majority of the configuration: it delivers by Test II only (never by its clock) until its clock agrees with a majority of the view again`, { peer: from, offsetMs, roundTripMs, maxSkewMs: this.maxSkewMs, off })
      }
      this.uncheckClock()
      return
    }
    this.timingFault('skewViolations', `replica '${this.ctx.self}' finds its clock off from ${off.map((m) => `'${m}' (${this.clockOffsets.get(m)!.offsetMs.toFixed(3)} ms)`).join(', ')}, a majority of the view, beyond maxSkewMs ${this.maxSkewMs} plus half the round trip: the clock-skew assumption broke here, and this replica stops delivering`, { peer: from, offsetMs, roundTripMs, maxSkewMs: this.maxSkewMs, off })
  }

  /** True if a clock estimate puts the peer beyond the skew bound (allowing half the probe's round trip); false without one. */
  private beyondBound(estimate: ClockOffset | undefined): boolean {
    return estimate !== undefined && Math.abs(estimate.offsetMs) > this.maxSkewMs + estimate.roundTripMs / 2
  }

  /** A timing assumption broke: stop delivering at once, say why at error level, count it, and tell the engine. */
  private timingFault(counter: 'timingViolations' | 'skewViolations', reason: string, fields: Record<string, unknown>): void {
    this.counters[counter]++
    this.ctx.log.error(reason, { code: 'TIMING_FAULT', kind: counter, ...fields })
    if (this.stopped) return
    this.stopped = true
    this.ctx.diverged?.(reason)
  }

  /**
   * Checks a message's requests before using any: the origin's own requests arrive over its FIFO link numbered
   * without gaps, with rising stamps not above the floor the message claims; relayed ones name a member.
   */
  private checkEntries(from: ReplicaId, message: RealtimeMessage): void {
    if (!message.r) return
    const fromQueue = this.queues.get(from)!
    let expected = fromQueue.direct + 1
    let lastTime = fromQueue.directTime
    const entries = message.r
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!
      const time = entry[0]
      const origin = entry[1]
      const n = entry[2]
      const queue = this.queues.get(origin)
      if (!queue) throw new LockstepError(ErrorCodes.MALFORMED_MESSAGE, `realtime message from '${from}': request ${n} of '${origin}', which is not a member of view ${this.ctx.view().id}`, { path: 'r' })
      if (origin === this.ctx.self) {
        if (n > queue.received) throw new LockstepError(ErrorCodes.MALFORMED_MESSAGE, `realtime message from '${from}': relays request ${n} of '${origin}' (this replica), which it never stamped`, { path: 'r' })
        continue
      }
      if (origin !== from) continue
      if (n < expected) continue
      if (n !== expected) {
        throw new LockstepError(ErrorCodes.MALFORMED_MESSAGE, `realtime message from '${from}': request number ${n} arrived but ${expected} was expected (the link lost or reordered messages)`, { path: 'r' })
      }
      if (time <= lastTime || time > message.c) {
        throw new LockstepError(ErrorCodes.MALFORMED_MESSAGE, `realtime message from '${from}': request ${n} has stamp ${time}, which is not between the previous stamp ${lastTime} and the message's floor ${message.c}`, { path: 'r' })
      }
      expected++
      lastTime = time
    }
  }
}

/**
 * The real-time orderer as the simulator runs it (the compliance suites): the heartbeat and the timing
 * bounds are drawn from the seed, so a failing seed reruns exactly. The simulator's network delays one hop by
 * at most 20 ms, plus up to 200 ms for each slow end and 100 ms of delay spike: the drawn `maxDelayMs` covers
 * that worst case. Its clocks read one virtual time unless the run gives each replica its own (`clocks`): the
 * skew bound is drawn, and raised to the most they differ (`world.clockDifferenceMaxMs`), so that only the `skew`
 * fault breaks it (found: with clocks up to 5 ms off and a drawn bound of 0, every replica in turn found its
 * clock off from a majority, stopped and rejoined, and the cluster went on changing views).
 */
export const realtimeSimulation = {
  name: 'realtime',
  create: (random: RandomSource, world?: { readonly clockDifferenceMaxMs: number }): OrdererFactory => {
    const pick = <T>(options: readonly T[]): T => options[Math.floor(random.next() * options.length)]!
    const heartbeatMs = pick([5, 10, 20])
    const maxDelayMs = pick([600, 800])
    const maxSkewMs = Math.max(pick([0, 1, 5]), Math.ceil(world?.clockDifferenceMaxMs ?? 0))
    return realtime({ heartbeatMs, maxDelayMs, maxSkewMs })
  },
}

/** The real-time ordering strategy, as a factory for the engine: `realtime({ maxDelayMs: 50, maxSkewMs: 5 })`. */
export function realtime(options: RealtimeOptions = {}): OrdererFactory {
  return (ctx) => new RealtimeOrderer(ctx, options)
}
