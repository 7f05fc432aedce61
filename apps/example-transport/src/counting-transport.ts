import type { ReplicaComponents, ReplicaId, Transport, TransportFactory } from '@lockstep/interface'

/** The messages counted on one directed link between two replicas. */
export interface LinkCount {
  readonly from: ReplicaId
  readonly to: ReplicaId
  /** Messages `from` handed to its transport for `to`. */
  readonly sent: number
  /** Messages `to`'s transport delivered from `from`. */
  readonly received: number
}

/**
 * The tally of every counting transport that shares it, per directed link. Give one `LinkCounts` to all the
 * replicas of a process (or of a simulation) to see both ends of each link: `sent - received` is what is in
 * flight, or was lost with a crash.
 */
export class LinkCounts {
  readonly #links = new Map<string, { from: ReplicaId; to: ReplicaId; sent: number; received: number }>()

  /** The counts of the link `from` → `to` (zeros for a link that carried nothing). */
  link(from: ReplicaId, to: ReplicaId): LinkCount {
    const counted = this.#links.get(JSON.stringify([from, to]))
    return { from, to, sent: counted?.sent ?? 0, received: counted?.received ?? 0 }
  }

  /** Every link that carried a message, sorted by `from`, then `to`. */
  links(): LinkCount[] {
    return [...this.#links.values()].map((counted) => ({ ...counted })).sort((a, b) => a.from.localeCompare(b.from) || a.to.localeCompare(b.to))
  }

  /** Messages sent on every link together. */
  totalSent(): number {
    return this.links().reduce((total, link) => total + link.sent, 0)
  }

  /** Counts a message `from` sent to `to`; the counting transport calls it. */
  countSent(from: ReplicaId, to: ReplicaId): void {
    this.#entry(from, to).sent++
  }

  /** Counts a message `to` received from `from`; the counting transport calls it. */
  countReceived(from: ReplicaId, to: ReplicaId): void {
    this.#entry(from, to).received++
  }

  #entry(from: ReplicaId, to: ReplicaId): { from: ReplicaId; to: ReplicaId; sent: number; received: number } {
    const key = JSON.stringify([from, to])
    let entry = this.#links.get(key)
    if (entry === undefined) {
      entry = { from, to, sent: 0, received: 0 }
      this.#links.set(key, entry)
    }
    return entry
  }
}

/** Configuration of {@link countingTransport}. */
export interface CountingTransportOptions {
  /** The transport that carries the messages: `memoryTransport(…)`, `tcp(…)`, any `TransportFactory`. */
  readonly inner: TransportFactory
  /** Where the counts go. */
  readonly counts: LinkCounts
}

/**
 * A transport plug-in that wraps another and counts the messages on every link between replicas. It keeps the
 * inner transport's guarantees (reliable FIFO links) because it hands every message through unchanged and in
 * order. Configuration first, the host's components second, like every plug-in:
 * `new ReplicaHost({ …, transport: countingTransport({ inner: memoryTransport({ network, replicas }), counts }) })`.
 */
export function countingTransport(options: CountingTransportOptions): TransportFactory {
  return (components: ReplicaComponents): Transport => {
    const inner = options.inner(components)
    const { counts } = options
    const self = components.self
    return {
      self,
      start: (handler) =>
        inner.start({
          onPeerMessage(from, message) {
            counts.countReceived(from, self)
            handler.onPeerMessage(from, message)
          },
          onClientMessage: (client, message) => handler.onClientMessage(client, message),
        }),
      send(to, message) {
        // Counted after the inner send: a send it refuses (an unknown replica) throws and is not counted.
        inner.send(to, message)
        counts.countSent(self, to)
      },
      sendToClient: (to, message) => inner.sendToClient(to, message),
      stop: () => inner.stop(),
    }
  }
}
