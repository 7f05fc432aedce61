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
  /**
   * Optional. This replica's order can no longer be trusted: the engine must stop serving from its state and
   * rejoin by state transfer. An orderer calls it when it finds that an assumption its safety rests on broke
   * here (a real-time orderer received a request after its deadline, or saw the clock-skew bound broken);
   * it has stopped delivering by then. `reason` says what broke, for the operator.
   */
  diverged?(reason: string): void
  /**
   * Optional. How many replicas the configuration has (the acceptors of view changes; at least the view's members):
   * a majority of it is what F faulty replicas can never make up, where a majority of a shrunk view can be.
   */
  configurationSize?(): number
  /**
   * Optional. The configured replicas themselves (see `configurationSize`): a member of the view outside them (a
   * spare) is in no majority of the configuration, so an orderer counting a majority of the configuration among the
   * view's members counts these only.
   */
  configuration?(): readonly ReplicaId[]
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
  /**
   * True if its order rests on timing assumptions that can break (real-time ordering): a replica may then
   * deliver out of order before it finds out (`OrdererContext.diverged`). The engine releases such a replica's
   * replies only once a majority of the view reports the same order (a digest of it) at their positions.
   */
  readonly timingAssumptions?: boolean
  /** A client request entering at this replica. */
  submit(request: Request): void
  /** A message from a peer's orderer. */
  receive(from: ReplicaId, message: unknown): void
  /** Time passed; read `ctx.clock`. Heartbeats and timeouts happen here. */
  tick(): void
  /** The end of a burst of events: send what is buffered (batching). */
  flush(): void
  /**
   * Start ordering afresh in `view`, delivering nothing (after state transfer,
   * or when a replica joins). Orderers that do not support membership changes
   * throw `UNSUPPORTED` for a view with other members.
   */
  viewChanged(view: View): void
  /** Requests this replica holds that are not yet delivered. */
  pendingCount(): number
}

/**
 * The brand of a {@link CrashTolerantOrderer}. `Symbol.for`, so an orderer built
 * against one installed copy of this package is recognised by another.
 */
export const crashTolerantOrderer: unique symbol = Symbol.for('@lockstep/crash-tolerant-orderer')

/**
 * An orderer that survives crashes: it takes part in the engine's
 * majority-agreed view change (Schneider: "a majority can assert their
 * failure"). The engine freezes a majority, merges their reports into the
 * agreed boundary of the old view, and every member of the new view installs it.
 */
export interface CrashTolerantOrderer extends Orderer {
  /** Declares the contract: `readonly [crashTolerantOrderer] = true`. */
  readonly [crashTolerantOrderer]: true
  /**
   * Stop ordering in the current view: from now on deliver nothing, send
   * nothing and ignore messages of this view. Returns what this replica holds
   * (delivered counts and undelivered requests), as plain data.
   */
  freeze(): unknown
  /**
   * Combines freeze reports from a majority of the old view into the agreed
   * boundary: every request that was delivered anywhere, and the order in which
   * the rest of the old view's requests are delivered. A pure function.
   */
  mergeReports(reports: readonly unknown[]): unknown
  /**
   * Delivers, in the agreed order, the boundary's requests this replica has not
   * delivered yet, then starts ordering afresh in `view`. Returns false, having
   * delivered nothing, when this replica cannot (it lacks requests the boundary
   * needs, or missed a view): it then needs state transfer.
   */
  install(view: View, boundary: unknown): boolean
}

/** True if the orderer takes part in view changes: it carries the {@link crashTolerantOrderer} brand. */
export function isCrashTolerant(orderer: Orderer): orderer is CrashTolerantOrderer {
  return (orderer as Partial<CrashTolerantOrderer>)[crashTolerantOrderer] === true
}

/** Builds an orderer for one replica. Plug-ins export a factory of factories: `lamport(options) => OrdererFactory`. */
export type OrdererFactory = (ctx: OrdererContext) => Orderer
