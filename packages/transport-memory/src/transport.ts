import {
  ErrorCodes,
  LockstepError,
  type ClientComponents,
  type ClientId,
  type ClientTransport,
  type ClientTransportFactory,
  type ReplicaComponents,
  type ReplicaId,
  type Transport,
  type TransportFactory,
  type TransportHandler,
} from '@lockstep/interface'
import type { MemoryNetwork } from './network'

/** Options of {@link memoryTransport}. */
export interface MemoryTransportOptions {
  readonly network: MemoryNetwork
  /** Every replica of the cluster (messages to others are an error). */
  readonly replicas: readonly ReplicaId[]
}

/**
 * A replica's endpoint on a {@link MemoryNetwork}. Replica ids and client ids
 * share the network's namespace; a message from a replica id is a peer
 * message, anything else is a client message. The endpoint takes its id from
 * the components (`self`) and logs attaching and detaching to `log`; messages
 * travel on the network's scheduler, so the components' scheduler is not used.
 */
export function memoryTransport(options: MemoryTransportOptions): TransportFactory {
  return (components: ReplicaComponents): Transport => {
    const { network } = options
    const { self, log } = components
    const replicas = new Set(options.replicas)
    /** Clients that have sent something here: like TCP connections, only they are answered. */
    const connected = new Set<ClientId>()
    let started = false
    return {
      self,
      async start(handler: TransportHandler) {
        if (started) throw new LockstepError(ErrorCodes.INVALID_CONFIG, `memory transport '${self}' is already started`)
        started = true
        network.attach(self, (from, message) => {
          if (replicas.has(from)) handler.onPeerMessage(from, message)
          else {
            connected.add(from)
            handler.onClientMessage(from, message)
          }
        })
        log.debug(`memory transport '${self}': attached to the network`)
      },
      send(to: ReplicaId, message: unknown) {
        if (!replicas.has(to)) {
          throw new LockstepError(ErrorCodes.UNKNOWN_PEER, `memory transport '${self}': no replica '${to}' in this cluster (known: ${[...replicas].join(', ')})`)
        }
        if (started) network.send(self, to, message)
      },
      sendToClient(to: ClientId, message: unknown) {
        if (started && connected.has(to) && network.has(to)) network.send(self, to, message)
      },
      async stop() {
        if (!started) return
        started = false
        connected.clear()
        network.detach(self)
        log.debug(`memory transport '${self}': detached from the network`)
      },
    }
  }
}

/** Options of {@link memoryClientTransport}. */
export interface MemoryClientTransportOptions {
  readonly network: MemoryNetwork
  readonly replicas: readonly ReplicaId[]
}

/** A client's endpoint on a {@link MemoryNetwork}; it takes its id from the components (`self`). */
export function memoryClientTransport(options: MemoryClientTransportOptions): ClientTransportFactory {
  return (components: ClientComponents): ClientTransport => {
    const { network } = options
    const { self, log } = components
    const replicas = new Set(options.replicas)
    let started = false
    return {
      self,
      async start(onMessage) {
        started = true
        network.attach(self, (from, message) => {
          if (replicas.has(from)) onMessage(from, message)
        })
        log.debug(`memory client '${self}': attached to the network`)
      },
      send(to: ReplicaId, message: unknown) {
        if (!replicas.has(to)) {
          throw new LockstepError(ErrorCodes.UNKNOWN_PEER, `memory client '${self}': no replica '${to}' (known: ${[...replicas].join(', ')})`)
        }
        if (started) network.send(self, to, message)
      },
      async stop() {
        if (!started) return
        started = false
        network.detach(self)
        log.debug(`memory client '${self}': detached from the network`)
      },
    }
  }
}
