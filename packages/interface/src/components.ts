import type { Scheduler } from './clock'
import type { ClientId, NodeId, ReplicaId } from './ids'
import type { Logger } from './logger'

/**
 * What a host hands every plug-in it builds: who the plug-in works for, time and
 * timers, and where to log. Plug-ins are factories, configuration first and
 * components second (`tcp(init)(components)`), so one configuration serves every
 * replica and the simulator can inject virtual time.
 */
export interface Components<Self extends NodeId = NodeId> {
  /** The node this plug-in belongs to. */
  readonly self: Self
  /** Time and timers: the real ones in production, virtual time in the simulator. */
  readonly scheduler: Scheduler
  /** The host's logger. */
  readonly log: Logger
}

/** The components a replica's host gives its transport and storage. */
export type ReplicaComponents = Components<ReplicaId>

/** The components a client gives its transport. */
export type ClientComponents = Components<ClientId>
