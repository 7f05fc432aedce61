import type { Clock } from './clock'
import type { ReplicaId } from './ids'
import type { Logger } from './logger'
import type { Request } from './request'

/** A numbered membership. Views are installed in number order; one view per number. */
export interface View {
  readonly id: number
  /** Members in a canonical order (sorted). */
  readonly members: readonly ReplicaId[]
}

/** What an orderer sees of the world: the same in simulation and over TCP. */
export interface OrdererContext {
  readonly clock: Clock
  readonly self: ReplicaId
  readonly log: Logger
  /** The current view. */
  view(): View
  /** Sends to one peer over a reliable FIFO link. */
  send(to: ReplicaId, message: unknown): void
  /** Sends to every other member of the current view. */
  broadcast(message: unknown): void
  /** Hands the next request of the total order to the engine. */
  deliver(request: Request): void
}

/**
 * An ordering strategy: it decides the total order in which every replica
 * executes requests. It must never deliver a request twice or out of order,
 * whatever the timing. Messages it receives come from the network: it validates
 * them and throws a `LockstepError` with code `MALFORMED_MESSAGE` for bad ones.
 */
export interface Orderer {
  /** `lamport`, `realtime`, … */
  readonly name: string
  /** A client request entering at this replica. */
  submit(request: Request): void
  /** A message from a peer's orderer. */
  receive(from: ReplicaId, message: unknown): void
  /** Time passed; read `ctx.clock`. Heartbeats and timeouts happen here. */
  tick(): void
  /** The end of a burst of events: send what is buffered (batching). */
  flush(): void
  /** The membership changed. */
  viewChanged(view: View): void
  /** Requests this replica holds that are not yet delivered. */
  pendingCount(): number
}

/** Builds an orderer for one replica. Plug-ins export a factory of factories: `lamport(options) => OrdererFactory`. */
export type OrdererFactory = (ctx: OrdererContext) => Orderer
