export { MemoryNetwork } from './network'
export type { LinkDelay, MemoryNetworkOptions, NetworkObserver } from './network'
export { memoryClientTransport, memoryTransport } from './transport'
export type { MemoryClientTransportOptions, MemoryTransportOptions } from './transport'
