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
}

type Receiver = (from: NodeId, message: unknown) => void

interface Link {
  /** Virtual time at which the last message on this link is delivered: keeps links FIFO. */
  lastDeliveryAt: number
  /** Messages waiting in zero-delay mode, delivered in one deferred turn. */
  queue: unknown[] | undefined
}

/**
 * An in-process network of named nodes. Every link (ordered pair of nodes) is
 * FIFO; each message gets a seeded delay, so messages on different links
 * overtake each other. Partitions drop messages between the two sides
 * (a dropped message is lost, as when a TCP connection breaks and is not
 * re-established).
 */
export class MemoryNetwork {
  private readonly receivers = new Map<NodeId, Receiver>()
  private readonly links = new Map<string, Link>()
  private readonly blocked = new Set<string>()
  private readonly scheduler: Scheduler
  private readonly random: RandomSource | undefined
  private delay: LinkDelay
  /** Messages sent and messages dropped by partitions or missing receivers. */
  readonly stats = { sent: 0, dropped: 0 }

  constructor(options: MemoryNetworkOptions) {
    this.scheduler = options.scheduler
    this.random = options.random
    this.delay = options.delay ?? { minMs: 0, maxMs: 0 }
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
  }

  /** Removes a node; messages in flight to it are dropped on arrival. */
  detach(id: NodeId): void {
    this.receivers.delete(id)
    for (const key of [...this.links.keys()]) {
      if (key.startsWith(`${id}\u0000`) || key.endsWith(`\u0000${id}`)) this.links.delete(key)
    }
  }

  /** True if a node with this id is attached. */
  has(id: NodeId): boolean {
    return this.receivers.has(id)
  }

  /** Changes the delay model from now on (delay spikes). */
  setDelay(delay: LinkDelay): void {
    this.delay = delay
  }

  /** Cuts the links between every node of `a` and every node of `b`, both ways. */
  partition(a: readonly NodeId[], b: readonly NodeId[]): void {
    for (const x of a) for (const y of b) {
      this.blocked.add(linkKey(x, y))
      this.blocked.add(linkKey(y, x))
    }
  }

  /** Restores every link. */
  heal(): void {
    this.blocked.clear()
  }

  /** Sends a message; it arrives after the link's delay, after every earlier message on the same link. */
  send(from: NodeId, to: NodeId, message: unknown): void {
    this.stats.sent++
    const key = linkKey(from, to)
    if (this.blocked.has(key)) {
      this.stats.dropped++
      return
    }
    let link = this.links.get(key)
    if (!link) {
      link = { lastDeliveryAt: 0, queue: undefined }
      this.links.set(key, link)
    }
    if (this.delay.maxMs === 0) {
      // Zero delay: batch the link's messages into one deferred delivery turn.
      if (link.queue) {
        link.queue.push(message)
        return
      }
      const queue = [message]
      link.queue = queue
      const current = link
      this.scheduler.defer(() => {
        current.queue = undefined
        for (const queued of queue) this.arrive(key, from, to, queued)
      })
      return
    }
    const now = this.scheduler.now()
    const delayMs = this.delay.minMs + this.random!.next() * (this.delay.maxMs - this.delay.minMs)
    const at = Math.max(now + delayMs, link.lastDeliveryAt)
    link.lastDeliveryAt = at
    this.scheduler.setTimer(at - now, () => this.arrive(key, from, to, message))
  }

  private arrive(key: string, from: NodeId, to: NodeId, message: unknown): void {
    // A partition that started while the message was in flight drops it too.
    if (this.blocked.has(key)) {
      this.stats.dropped++
      return
    }
    const receiver = this.receivers.get(to)
    if (!receiver) {
      this.stats.dropped++
      return
    }
    receiver(from, message)
  }
}

function linkKey(from: NodeId, to: NodeId): string {
  return `${from}\u0000${to}`
}
