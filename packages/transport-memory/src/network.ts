import { ErrorCodes, LockstepError, type NodeId, type RandomSource, type Scheduler } from '@lockstep/interface'

/** Delay model of a simulated link, in milliseconds. */
export interface LinkDelay {
  /** Smallest delay. */
  readonly minMs: number
  /** Largest delay (uniformly drawn between min and max from the seeded source). */
  readonly maxMs: number
}

/** Options of a {@link MemoryNetwork}. */
export interface MemoryNetworkOptions {
  /** Delivers messages; the simulator passes a virtual-time scheduler, real runs a real one. */
  readonly scheduler: Scheduler
  /** Seeded randomness for delays; required when delays are not zero. */
  readonly random?: RandomSource
  /** Per-link delay; default 0 (delivered on the next deferred turn). */
  readonly delay?: LinkDelay
  /** Sees every message sent, handed over and lost (a simulator's trace); it must not send. Default none. */
  readonly observer?: NetworkObserver
  /**
   * Most messages a link holds on their way (sent, not yet handed over: delayed, or held by a partition); a send
   * beyond it throws BACKPRESSURE and the message is not sent, as a TCP link refuses one past its buffer when the
   * peer is stalled or cut off. Default: no limit.
   */
  readonly maxInFlightPerLink?: number
  /** The links `maxInFlightPerLink` applies to (a simulator: between replicas). Default: every link. */
  readonly limitsLink?: (from: NodeId, to: NodeId) => boolean
  /**
   * The links whose messages to a detached (crashed) node wait on the link and go, in order, to the next node
   * attached under its id, as the TCP transport's reliable links send a restarted peer everything they hold
   * unacknowledged (sent to its earlier run, or while it was down): a restarted replica may first hear what its
   * peers said to its earlier run. Messages from a detached node are lost either way (its process died). Default:
   * none (a detach loses everything in flight to and from the node).
   */
  readonly holdForRestart?: (from: NodeId, to: NodeId) => boolean
  /**
   * The virtual time at which the link from `from` to `to` first connects, as a TCP connection may take a while to
   * set up (a peer slow to listen, connection attempts backing off): nothing sent on it arrives earlier; what was
   * sent waits, in order. Asked once, when the link is first used. Default: every link is up at once.
   */
  readonly connectsAt?: (from: NodeId, to: NodeId) => number
}

/**
 * Watches a {@link MemoryNetwork}: each message gets an id (1, 2, … in the order sent) that names it in its
 * `received` or `dropped`. A message held by a partition is neither until the partition heals.
 */
export interface NetworkObserver {
  sent?(id: number, from: NodeId, to: NodeId, message: unknown): void
  received?(id: number, from: NodeId, to: NodeId, message: unknown): void
  /** Lost: its receiver was not attached when it arrived (`receiver-down`), or one end detached (crashed) while it was on the link (`link-reset`). */
  dropped?(id: number, from: NodeId, to: NodeId, message: unknown, reason: 'receiver-down' | 'link-reset'): void
}

/** A message on a link: its id on the network, its number on the link and its contents. */
interface InFlight {
  readonly id: number
  readonly n: number
  readonly message: unknown
}

type Receiver = (from: NodeId, message: unknown) => void

interface Link {
  /** Virtual time at which the last message on this link is due: delays never reorder a link. */
  lastDeliveryAt: number
  /** Messages waiting in zero-delay mode, delivered in one deferred turn. */
  queue: InFlight[] | undefined
  /** Number of messages sent on the link; each carries its number. */
  sent: number
  /** Number of the next message to hand over. */
  next: number
  /** Messages that arrived but wait for a partition to heal (or for an earlier one). */
  readonly waiting: WaitingMessages
  /** `linkKey(from, to)`. */
  readonly key: string
  /** Hands the zero-delay `queue` over (made once per link, deferred once per turn that sent on it). */
  readonly handOverQueue: () => void
}

/**
 * A link's arrived messages by number, lowest first: what a Map of them did, for the few operations a link uses
 * (an arrival, the lowest one taken, the count, all of them), without allocating per message. (A Map that gains
 * and loses an entry per message reallocates its table every few messages.)
 */
class WaitingMessages {
  private numbers: number[] = []
  private messages: InFlight[] = []
  /** The entries in use are `[head, end)`, in increasing number. */
  private head = 0
  private end = 0

  get size(): number {
    return this.end - this.head
  }

  /** Adds message `n` (not waiting yet). */
  set(n: number, message: InFlight): void {
    if (this.head === this.end) this.head = this.end = 0
    let at = this.end
    while (at > this.head && this.numbers[at - 1]! > n) at-- // arrivals come in order but for delays; keep them sorted
    if (at === this.end) {
      this.numbers[at] = n
      this.messages[at] = message
    } else {
      this.numbers.splice(at, 0, n)
      this.messages.splice(at, 0, message)
    }
    this.end++
  }

  /** Takes message `n` out if it is the lowest waiting one. */
  take(n: number): InFlight | undefined {
    if (this.head === this.end || this.numbers[this.head] !== n) return undefined
    const message = this.messages[this.head]!
    this.messages[this.head] = undefined as unknown as InFlight // not kept alive by the link
    this.head++
    if (this.head === this.end) this.head = this.end = 0
    return message
  }

  /** The waiting messages' numbers, in order. */
  keys(): number[] {
    return this.numbers.slice(this.head, this.end)
  }

  get(n: number): InFlight | undefined {
    for (let i = this.head; i < this.end; i++) if (this.numbers[i] === n) return this.messages[i]
    return undefined
  }

  clear(): void {
    this.numbers = []
    this.messages = []
    this.head = this.end = 0
  }
}

/**
 * An in-process network of named nodes. Every link (ordered pair of nodes) is
 * FIFO and reliable while both ends live; each message gets a seeded delay, so
 * messages on different links overtake each other. A partition cuts the links
 * between two sides: messages wait and arrive, in order, once it heals (what
 * the TCP transport's reliable links do across reconnects). A node that
 * detaches (crashes) loses everything in flight to and from it, except, on
 * the links `holdForRestart` names, what was on its way to it: that goes to
 * the node's next run.
 */
export class MemoryNetwork {
  private readonly receivers = new Map<NodeId, Receiver>()
  private readonly links = new Map<string, Link>()
  /** The same links by their ends, from and to (no key string made per message). */
  private readonly linksFrom = new Map<NodeId, Map<NodeId, Link>>()
  private readonly blocked = new Set<string>()
  private readonly scheduler: Scheduler
  private readonly random: RandomSource | undefined
  private delay: LinkDelay
  /** Extra delay of messages from or to a slow node. */
  private readonly slowNodes = new Map<NodeId, number>()
  /** Messages sent, messages dropped because a node detached (crashed) or was never there, and sends refused (`maxInFlightPerLink`). */
  readonly stats = { sent: 0, dropped: 0, refused: 0 }
  private readonly observer: NetworkObserver | undefined
  private readonly maxInFlight: number
  private readonly limitsLink: (from: NodeId, to: NodeId) => boolean
  private readonly holdForRestart: ((from: NodeId, to: NodeId) => boolean) | undefined
  private readonly connectsAt: ((from: NodeId, to: NodeId) => number) | undefined

  constructor(options: MemoryNetworkOptions) {
    this.holdForRestart = options.holdForRestart
    this.connectsAt = options.connectsAt
    this.maxInFlight = options.maxInFlightPerLink ?? Infinity
    if (!(this.maxInFlight >= 1)) throw new LockstepError(ErrorCodes.INVALID_CONFIG, `MemoryNetwork: maxInFlightPerLink must be >= 1 (got ${String(options.maxInFlightPerLink)})`)
    this.limitsLink = options.limitsLink ?? (() => true)
    this.scheduler = options.scheduler
    this.random = options.random
    this.delay = options.delay ?? { minMs: 0, maxMs: 0 }
    this.observer = options.observer
    if (this.delay.maxMs > 0 && !this.random) {
      throw new LockstepError(ErrorCodes.INVALID_CONFIG, 'MemoryNetwork: a random source is required when delay.maxMs > 0')
    }
    if (this.delay.minMs < 0 || this.delay.maxMs < this.delay.minMs) {
      throw new LockstepError(ErrorCodes.INVALID_CONFIG, `MemoryNetwork: invalid delay ${JSON.stringify(this.delay)} (need 0 <= minMs <= maxMs)`)
    }
  }

  /** Registers a node; messages to it go to `receiver`. */
  attach(id: NodeId, receiver: Receiver): void {
    if (this.receivers.has(id)) {
      throw new LockstepError(ErrorCodes.INVALID_CONFIG, `MemoryNetwork: node '${id}' is already attached`)
    }
    this.receivers.set(id, receiver)
    if (!this.holdForRestart) return
    // What its peers' links held for its earlier run (or sent while it was down) goes on, to this run.
    for (const [from, byTo] of this.linksFrom) {
      const link = byTo.get(id)
      if (link && link.waiting.size > 0) this.scheduler.defer(() => this.handOver(link.key, link, from, id))
    }
  }

  /** Removes a node; messages in flight to it are dropped on arrival. */
  detach(id: NodeId): void {
    this.receivers.delete(id)
    for (const [key, link] of this.links) {
      const [from, to] = key.split('\u0000') as [NodeId, NodeId]
      if (to === id && this.holdForRestart?.(from, to)) continue // held for its next run (see `attach`)
      if (from === id || to === id) {
        this.stats.dropped += link.waiting.size
        this.reportDropped(key, link, 'link-reset')
        // Emptied, so that a hand-over in progress on this link (the detach came from its receiver) stops here.
        link.waiting.clear()
        this.links.delete(key)
      }
    }
    this.linksFrom.delete(id)
    for (const [from, byTo] of this.linksFrom) if (!this.holdForRestart?.(from, id)) byTo.delete(id)
  }

  /** True if a node with this id is attached. */
  has(id: NodeId): boolean {
    return this.receivers.has(id)
  }

  /** Changes the delay model from now on (delay spikes). */
  setDelay(delay: LinkDelay): void {
    this.delay = delay
  }

  /** Makes every message from or to `id` take `extraMs` longer (0 restores it): a slow replica. */
  setSlow(id: NodeId, extraMs: number): void {
    if (extraMs > 0 && !this.random) throw new LockstepError(ErrorCodes.INVALID_CONFIG, 'MemoryNetwork: a random source is required for slow nodes')
    if (extraMs > 0) this.slowNodes.set(id, extraMs)
    else this.slowNodes.delete(id)
  }

  /** Cuts the links between every node of `a` and every node of `b`, both ways. */
  partition(a: readonly NodeId[], b: readonly NodeId[]): void {
    for (const x of a) for (const y of b) {
      this.cutLink(x, y)
      this.cutLink(y, x)
    }
  }

  /**
   * Cuts the link from `from` to `to`, one way: what `from` sends to `to` is held (as a partition holds it) while
   * `to`'s messages to `from` go on. `heal` restores it.
   */
  cutLink(from: NodeId, to: NodeId): void {
    this.blocked.add(linkKey(from, to))
  }

  /** Restores every link; messages held by the partition go on, in order. */
  heal(): void {
    this.blocked.clear()
    for (const [key, link] of this.links) {
      if (link.waiting.size === 0) continue
      const [from, to] = key.split('\u0000') as [NodeId, NodeId]
      this.scheduler.defer(() => this.handOver(key, link, from, to))
    }
  }

  /** Sends a message; it arrives after the link's delay, after every earlier message on the same link. */
  send(from: NodeId, to: NodeId, message: unknown): void {
    let link = this.linksFrom.get(from)?.get(to)
    const onTheirWay = link ? link.sent - link.next + 1 : 0
    if (onTheirWay >= this.maxInFlight && this.limitsLink(from, to)) {
      this.stats.refused++
      throw new LockstepError(ErrorCodes.BACKPRESSURE, `MemoryNetwork: the link ${from} -> ${to} holds ${onTheirWay} messages on their way (maxInFlightPerLink ${this.maxInFlight}); the peer is slow, stalled or cut off`)
    }
    this.stats.sent++
    const inFlight: InFlight = { id: this.stats.sent, n: 0, message }
    this.observer?.sent?.(inFlight.id, from, to, message)
    if (!link) link = this.newLink(from, to)
    const extraMs = this.slowNodes.size === 0 ? 0 : (this.slowNodes.get(from) ?? 0) + (this.slowNodes.get(to) ?? 0)
    // Zero delay: the link's messages go together in one deferred turn. The clock is read only for a link that was
    // ever delayed or waits for its connection (`lastDeliveryAt` above 0): in a cluster in one process, one reading
    // fewer per message.
    if (this.delay.maxMs === 0 && extraMs === 0 && (link.lastDeliveryAt <= 0 || link.lastDeliveryAt <= this.scheduler.now()) && link.waiting.size === 0 && (this.blocked.size === 0 || !this.blocked.has(link.key))) {
      ;(inFlight as { n: number }).n = ++link.sent
      if (link.queue) {
        link.queue.push(inFlight)
        return
      }
      link.queue = [inFlight]
      this.scheduler.defer(link.handOverQueue)
      return
    }
    const now = this.scheduler.now()
    const current = link
    const n = ++link.sent
    ;(inFlight as { n: number }).n = n
    const jitterMs = this.delay.maxMs > this.delay.minMs ? this.random!.next() * (this.delay.maxMs - this.delay.minMs) : 0
    const at = Math.max(now + this.delay.minMs + jitterMs + extraMs, link.lastDeliveryAt)
    link.lastDeliveryAt = at
    this.scheduler.setTimer(at - now, () => {
      current.waiting.set(n, inFlight)
      this.handOver(current.key, current, from, to)
    })
  }

  /** The link from `from` to `to`, new. */
  private newLink(from: NodeId, to: NodeId): Link {
    const key = linkKey(from, to)
    const link: Link = {
      key,
      // Not before it connects: sends wait for it (see `connectsAt`), in order.
      lastDeliveryAt: this.connectsAt?.(from, to) ?? 0,
      queue: undefined,
      sent: 0,
      next: 1,
      waiting: new WaitingMessages(),
      handOverQueue: () => {
        const queue = link.queue!
        link.queue = undefined
        for (const queued of queue) link.waiting.set(queued.n, queued)
        this.handOver(key, link, from, to)
      },
    }
    this.links.set(key, link)
    let byTo = this.linksFrom.get(from)
    if (!byTo) this.linksFrom.set(from, (byTo = new Map()))
    byTo.set(to, link)
    return link
  }

  /** Hands over a link's waiting messages in order, unless the link is cut or the receiver is gone. */
  private handOver(key: string, link: Link, from: NodeId, to: NodeId): void {
    if (this.links.get(key) !== link) {
      // The link belonged to an earlier incarnation of one end: what was on it is lost.
      this.stats.dropped += link.waiting.size
      this.reportDropped(key, link, 'link-reset')
      link.waiting.clear()
      return
    }
    for (;;) {
      // Checked per message: a receiver may partition the link as it handles one, and the rest waits for the heal.
      if (this.blocked.size > 0 && this.blocked.has(key)) return
      const receiver = this.receivers.get(to)
      // Held for the receiver's next run (`holdForRestart`): it goes on when a node attaches under its id.
      if (!receiver && this.holdForRestart?.(from, to)) return
      const entry = link.waiting.take(link.next)
      if (entry === undefined) return
      link.next++
      if (!receiver) {
        this.stats.dropped++
        this.observer?.dropped?.(entry.id, from, to, entry.message, 'receiver-down')
        continue
      }
      this.observer?.received?.(entry.id, from, to, entry.message)
      receiver(from, entry.message)
    }
  }

  /** Tells the observer about every message waiting on a link that is being thrown away. */
  private reportDropped(key: string, link: Link, reason: 'receiver-down' | 'link-reset'): void {
    if (!this.observer?.dropped || link.waiting.size === 0) return
    const [from, to] = key.split('\u0000') as [NodeId, NodeId]
    for (const n of [...link.waiting.keys()].sort((a, b) => a - b)) {
      const entry = link.waiting.get(n)!
      this.observer.dropped(entry.id, from, to, entry.message, reason)
    }
  }

}

function linkKey(from: NodeId, to: NodeId): string {
  return `${from}\u0000${to}`
}
