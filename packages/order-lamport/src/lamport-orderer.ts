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
import { LamportClock, compareStamps } from './lamport-clock'
import { parseLamportMessage, type LamportMessage, type StampedEntry } from './messages'

/** Options of the Lamport orderer. */
export interface LamportOptions {
  /** An idle replica sends its clock and acknowledgements to each peer at least this often. Default 50. */
  readonly heartbeatMs?: number
  /** Most requests carried by one message. Default 4096. */
  readonly maxBatch?: number
}

/** What a queue's delivered slots hold until it is compacted. */
const DELIVERED: StampedEntry = Object.freeze([0, 0, Object.freeze({ client: '', seq: 0, command: null })]) as unknown as StampedEntry

/**
 * One origin's undelivered requests, in stamp order (FIFO links keep them so), as they came: `[stamp time, n,
 * request]`, the entries of the messages themselves (read only; no copy per request).
 */
class OriginQueue {
  entries: StampedEntry[] = []
  head = 0
  /** How many of this origin's requests this replica has received (they are numbered 1, 2, …). */
  received = 0
  /** Stamp time of the last received request, to check stamps increase. */
  lastTime = 0
  /** How many of this origin's requests this replica has delivered. */
  delivered = 0

  peek(): StampedEntry | undefined {
    return this.entries[this.head]
  }

  shift(): StampedEntry {
    const entry = this.entries[this.head]!
    // Not kept alive by the queue until the next compaction (up to a thousand delivered requests per origin, and
    // everything they hold, would outlive young-generation collections and be promoted only to die there).
    this.entries[this.head++] = DELIVERED
    this.delivered = entry[1]
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head)
      this.head = 0
    }
    return entry
  }

  get size(): number {
    return this.entries.length - this.head
  }

  /** The undelivered entries. */
  undelivered(): StampedEntry[] {
    return this.entries.slice(this.head)
  }
}

/** What a frozen Lamport orderer reports to the view change: per-origin delivered counts and what it holds beyond. */
export interface LamportReport {
  readonly delivered: Readonly<Record<ReplicaId, number>>
  /** `[origin, stamp time, n, request]` for every request held and not delivered. */
  readonly pending: readonly (readonly [ReplicaId, number, number, Request])[]
}

/** The agreed end of a view: every origin's requests up to `maxDelivered` plus `entries`, in stamp order. */
export interface LamportBoundary {
  readonly maxDelivered: Readonly<Record<ReplicaId, number>>
  readonly entries: readonly (readonly [ReplicaId, number, number, Request])[]
}

/**
 * Total order from Lamport clocks (Schneider §3.2.1), made safe for crashes
 * over real networks.
 *
 * A replica stamps each client request `(T, self)` and sends it to every
 * member over FIFO links. Every message carries the sender's clock and its
 * acknowledgement vector (how many requests of each origin it holds). A
 * request is **stable** once every member has acknowledged it. Since an
 * acknowledgement is sent after the acker's clock passed the request's stamp
 * (LC2), and everything the acker stamped before was sent before it (FIFO), an
 * acknowledgement from every member also proves that no request with a lower
 * stamp is still on its way: Schneider's "higher stamp from every member"
 * test follows. Requiring the acknowledgements as well means a delivered
 * request is held by every member, so none is lost if its sender crashes.
 * Stable requests are delivered in stamp order.
 */
export class LamportOrderer implements CrashTolerantOrderer {
  readonly [crashTolerantOrderer] = true as const
  readonly name = 'lamport'
  private readonly ctx: OrdererContext
  private readonly heartbeatMs: number
  private readonly maxBatch: number
  private readonly clock = new LamportClock()
  private members: readonly ReplicaId[] = []
  private peers: readonly ReplicaId[] = []
  private queues = new Map<ReplicaId, OriginQueue>()
  /** The same queues, in `members` order (the hot delivery loop avoids Map iteration). */
  private queueList: OriginQueue[] = []
  /** acks.get(m).get(o): how many of origin o's requests member m reported holding. */
  private acks = new Map<ReplicaId, Map<ReplicaId, number>>()
  /** Set by a view change: this view is over here. */
  private frozen = false
  /** This replica's own stamped requests not yet sent. */
  private outbox: StampedEntry[] = []
  /** Peers owed an acknowledgement (our vector changed since we last wrote to them). */
  private ackOwed = new Set<ReplicaId>()
  private lastSentAt = new Map<ReplicaId, number>()
  private delivering = false

  constructor(ctx: OrdererContext, options: LamportOptions = {}) {
    this.ctx = ctx
    this.heartbeatMs = options.heartbeatMs ?? 50
    this.maxBatch = options.maxBatch ?? 4096
    if (!(this.heartbeatMs > 0)) throw new LockstepError(ErrorCodes.INVALID_CONFIG, `lamport: heartbeatMs must be > 0 (got ${options.heartbeatMs})`)
    if (!Number.isSafeInteger(this.maxBatch) || this.maxBatch < 1) throw new LockstepError(ErrorCodes.INVALID_CONFIG, `lamport: maxBatch must be an integer >= 1 (got ${options.maxBatch})`)
    this.startView(ctx.view())
  }

  submit(request: Request): void {
    if (this.frozen) return // the engine holds submissions during a view change
    // LC1: stamping a request is an event.
    const time = this.clock.tick()
    const own = this.queues.get(this.ctx.self)!
    const n = ++own.received
    own.lastTime = time
    const entry: StampedEntry = [time, n, request]
    own.entries.push(entry)
    this.outbox.push(entry)
    this.deliverStable()
  }

  receive(from: ReplicaId, raw: unknown): void {
    if (this.frozen) return
    const queue = this.queues.get(from)
    if (!queue || from === this.ctx.self) {
      throw new LockstepError(ErrorCodes.UNKNOWN_PEER, `lamport: message from '${from}', which is not a peer in view ${this.ctx.view().id}`)
    }
    const message = parseLamportMessage(from, raw)
    this.checkEntries(from, queue, message)
    // LC2: on receipt of a message stamped τ, T := max(T, τ) + 1.
    this.clock.witness(message.c)
    if (message.r) {
      for (const entry of message.r) {
        const n = entry[1]
        if (n <= queue.received) continue // already held (a resent batch)
        queue.received = n
        queue.lastTime = entry[0]
        queue.entries.push(entry)
      }
      for (const peer of this.peers) this.ackOwed.add(peer)
    }
    const acked = this.acks.get(from)!
    for (const origin of this.members) {
      const count = message.a[origin]
      if (count !== undefined && count > (acked.get(origin) ?? 0)) acked.set(origin, count)
    }
    this.deliverStable()
  }

  tick(): void {
    if (this.frozen) return
    const now = this.ctx.clock.now()
    for (const peer of this.peers) {
      if (now - (this.lastSentAt.get(peer) ?? -Infinity) >= this.heartbeatMs) this.ackOwed.add(peer)
    }
    this.flush()
  }

  flush(): void {
    if (this.frozen) return
    if (this.outbox.length === 0 && this.ackOwed.size === 0) return
    const batches: StampedEntry[][] = []
    for (let i = 0; i < this.outbox.length; i += this.maxBatch) batches.push(this.outbox.slice(i, i + this.maxBatch))
    this.outbox = []
    const now = this.ctx.clock.now()
    // LC1: sending is an event. Every entry below was stamped before this reading.
    const clock = this.clock.tick()
    const vector = this.ackVector()
    for (const peer of this.peers) {
      if (batches.length === 0) {
        if (!this.ackOwed.has(peer)) continue
        this.ctx.send(peer, { t: 'lamport', c: clock, a: vector } satisfies LamportMessage)
      } else {
        // The vector rides on the last batch only: an acknowledgement must follow every
        // request this replica stamped before it, or the stability argument breaks.
        for (let i = 0; i < batches.length; i++) {
          const a = i === batches.length - 1 ? vector : {}
          this.ctx.send(peer, { t: 'lamport', c: clock, a, r: batches[i] } satisfies LamportMessage)
        }
      }
      this.lastSentAt.set(peer, now)
    }
    this.ackOwed.clear()
  }

  viewChanged(view: View): void {
    this.startView(view)
  }

  freeze(): LamportReport {
    this.frozen = true
    const delivered: Record<ReplicaId, number> = {}
    const pending: [ReplicaId, number, number, Request][] = []
    for (let i = 0; i < this.members.length; i++) {
      const origin = this.members[i]!
      const queue = this.queueList[i]!
      delivered[origin] = queue.delivered
      for (const [time, n, request] of queue.undelivered()) pending.push([origin, time, n, request])
    }
    return { delivered, pending }
  }

  mergeReports(reports: readonly unknown[]): LamportBoundary {
    const maxDelivered: Record<ReplicaId, number> = {}
    const entries = new Map<string, readonly [ReplicaId, number, number, Request]>()
    for (const raw of reports) {
      const report = raw as LamportReport
      for (const [origin, count] of Object.entries(report.delivered)) maxDelivered[origin] = Math.max(maxDelivered[origin] ?? 0, count)
      for (const entry of report.pending) entries.set(`${entry[0]}\u0000${entry[2]}`, entry)
    }
    const sorted = [...entries.values()].sort((a, b) => compareStamps(a[1], a[0], b[1], b[0]))
    return { maxDelivered, entries: sorted }
  }

  /**
   * The view-change flush. Every request delivered anywhere in the old view was
   * acknowledged by every member, so a member holds all of them (up to
   * `maxDelivered` per origin); the boundary adds what the majority held
   * beyond. Each member delivers, in stamp order, the part it has not
   * delivered: all end the view at the same position.
   */
  install(view: View, raw: unknown): boolean {
    const boundary = raw as LamportBoundary
    const candidates = new Map<string, readonly [ReplicaId, number, number, Request]>()
    for (let i = 0; i < this.members.length; i++) {
      const origin = this.members[i]!
      for (const [time, n, request] of this.queueList[i]!.undelivered()) {
        if (n <= (boundary.maxDelivered[origin] ?? 0)) candidates.set(`${origin}\u0000${n}`, [origin, time, n, request])
      }
    }
    for (const entry of boundary.entries) candidates.set(`${entry[0]}\u0000${entry[2]}`, entry)
    const deliveredCount = (origin: ReplicaId) => this.queues.get(origin)?.delivered ?? 0
    // Every request up to maxDelivered must be at hand, or this replica cannot end the view by itself.
    for (const [origin, max] of Object.entries(boundary.maxDelivered)) {
      for (let n = deliveredCount(origin) + 1; n <= max; n++) {
        if (!candidates.has(`${origin}\u0000${n}`)) return false
      }
    }
    const toDeliver = [...candidates.values()]
      .filter(([origin, , n]) => n > deliveredCount(origin))
      .sort((a, b) => compareStamps(a[1], a[0], b[1], b[0]))
    this.frozen = true
    for (const [, , , request] of toDeliver) this.ctx.deliver(request)
    this.startView(view)
    return true
  }

  pendingCount(): number {
    let count = 0
    for (const queue of this.queueList) count += queue.size
    return count
  }

  /** The current Lamport clock reading (for tests and status). */
  get time(): number {
    return this.clock.now
  }

  /** Starts a view with empty queues; the clock keeps running (stamps only grow). */
  private startView(view: View): void {
    this.frozen = false
    this.members = [...view.members]
    this.peers = this.members.filter((m) => m !== this.ctx.self)
    this.queues = new Map()
    this.queueList = []
    this.acks = new Map()
    for (const member of this.members) {
      const queue = new OriginQueue()
      this.queues.set(member, queue)
      this.queueList.push(queue)
      this.acks.set(member, new Map())
    }
    this.outbox = []
    this.ackOwed = new Set()
    this.lastSentAt = new Map()
  }

  /** Delivers, in stamp order, every request that is stable. */
  private deliverStable(): void {
    if (this.delivering || this.frozen) return // deliver() may re-enter through the engine; the outer loop continues
    this.delivering = true
    try {
      while (true) {
        let best: StampedEntry | undefined
        let bestIndex = -1
        for (let i = 0; i < this.queueList.length; i++) {
          const head = this.queueList[i]!.peek()
          if (head && (!best || compareStamps(head[0], this.members[i]!, best[0], this.members[bestIndex]!) < 0)) {
            best = head
            bestIndex = i
          }
        }
        if (!best || !this.isStable(this.members[bestIndex]!, best[1])) return
        this.queueList[bestIndex]!.shift()
        this.ctx.deliver(best[2])
      }
    } finally {
      this.delivering = false
    }
  }

  /** Stable: every member other than the origin and this replica acknowledged holding request `n` of `origin`. */
  private isStable(origin: ReplicaId, n: number): boolean {
    for (const member of this.peers) {
      if (member === origin) continue
      if ((this.acks.get(member)!.get(origin) ?? 0) < n) return false
    }
    return true
  }

  private ackVector(): Record<ReplicaId, number> {
    const vector: Record<ReplicaId, number> = {}
    for (const [origin, queue] of this.queues) vector[origin] = queue.received
    return vector
  }

  /** FIFO links deliver each origin's requests in order, numbered without gaps and with rising stamps. */
  private checkEntries(from: ReplicaId, queue: OriginQueue, message: LamportMessage): void {
    if (!message.r) return
    let expected = queue.received + 1
    let lastTime = queue.lastTime
    for (const [time, n] of message.r) {
      if (n < expected) continue
      if (n !== expected) {
        throw new LockstepError(ErrorCodes.MALFORMED_MESSAGE, `lamport message from '${from}': request number ${n} arrived but ${expected} was expected (the link lost or reordered messages)`)
      }
      if (time <= lastTime || time > message.c) {
        throw new LockstepError(ErrorCodes.MALFORMED_MESSAGE, `lamport message from '${from}': request ${n} has stamp ${time}, which is not between the previous stamp ${lastTime} and the message clock ${message.c}`)
      }
      expected++
      lastTime = time
    }
  }
}

/**
 * The Lamport orderer as the simulator runs it (`lockstep sim --order lamport`
 * and the compliance suite): the heartbeat interval is drawn from the seed, so
 * a failing seed reruns exactly.
 */
export const lamportSimulation = {
  name: 'lamport',
  create: (random: RandomSource): OrdererFactory => lamport({ heartbeatMs: [5, 20, 50][Math.floor(random.next() * 3)]! }),
}

/** The Lamport ordering strategy, as a factory for the engine: `lamport({ heartbeatMs: 50 })`. */
export function lamport(options: LamportOptions = {}): OrdererFactory {
  return (ctx) => new LamportOrderer(ctx, options)
}
