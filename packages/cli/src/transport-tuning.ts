import type { ClusterConfig } from './cluster-config'

/**
 * The transport settings every node of a cluster shares, from the configured timeouts. A module of its own: a
 * client (`lockstep client`, `bench`, `member`) needs these and not the replica's runtime, whose modules (the engine,
 * JSON Schema compilation, the orderers, file storage) cost a short-lived client process a third of its start.
 */
export function transportTuning(config: ClusterConfig) {
  const { handshakeTimeoutMs, idleTimeoutMs, reconnectMaxDelayMs } = config.timeouts
  return {
    limits: { ...config.limits, handshakeTimeoutMs, idleTimeoutMs },
    reconnect: { initialDelayMs: Math.min(100, reconnectMaxDelayMs), maxDelayMs: reconnectMaxDelayMs },
  }
}
