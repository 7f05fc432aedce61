import type { ClientComponents, ReplicaComponents } from './components'
import type { LockstepError } from './errors'
import type { ClientId, ReplicaId } from './ids'

/** What a transport calls when something arrives. */
export interface TransportHandler {
  /** A message from another replica, in FIFO order per link. */
  onPeerMessage(from: ReplicaId, message: unknown): void
  /** A message from a client connected to this replica. */
  onClientMessage(client: ClientId, message: unknown): void
}

/**
 * A replica's network endpoint. Links between replicas are reliable and FIFO
 * while both ends live: nothing is lost, duplicated or reordered. Messages are
 * plain data (msgpack-serializable) and must not be mutated after sending.
 */
export interface Transport {
  readonly self: ReplicaId
  /** Starts listening; messages go to `handler` from then on. */
  start(handler: TransportHandler): Promise<void>
  /** Sends to a replica. Unknown replicas are an error. */
  send(to: ReplicaId, message: unknown): void
  /** Sends to a client if it is connected here; otherwise drops the message (the client retries). */
  sendToClient(to: ClientId, message: unknown): void
  /** Stops and releases every resource. */
  stop(): Promise<void>
}

/**
 * What a client transport tells its client about its connections, besides messages. Both are optional: a
 * transport without connections (the in-memory one) reports nothing, and a client that is not interested
 * passes nothing.
 */
export interface ClientTransportEvents {
  /**
   * A connection to `replica` was refused, or could not be made because nothing accepts connections there.
   * `error.code` says why: AUTH_FAILED (a wrong secret or certificate), CLUSTER_MISMATCH (a wrong cluster id) or
   * UNREACHABLE (connection refused); its message says what and where. The transport keeps trying; a replica
   * that is only slow is not reported.
   */
  refused?(replica: ReplicaId, error: LockstepError): void
  /** A connection to `replica` was established and authenticated (any earlier refusal is over). */
  connected?(replica: ReplicaId): void
}

/** A client's network endpoint: reaches the replicas it is configured with. */
export interface ClientTransport {
  readonly self: ClientId
  /** Connects; messages go to `onMessage`, connection events to `events` (if the transport reports them). */
  start(onMessage: (from: ReplicaId, message: unknown) => void, events?: ClientTransportEvents): Promise<void>
  send(to: ReplicaId, message: unknown): void
  stop(): Promise<void>
}

/**
 * Builds a replica's transport from the host's components. Transports export a
 * factory of factories, configuration first: `tcp(options) => TransportFactory`;
 * the host calls it with its own `{ self, scheduler, log }`.
 */
export type TransportFactory<T extends Transport = Transport> = (components: ReplicaComponents) => T

/** Builds a client's transport from the client's components: `tcpClient(options) => ClientTransportFactory`. */
export type ClientTransportFactory<T extends ClientTransport = ClientTransport> = (components: ClientComponents) => T
