export { MemoryNetwork } from './network'
export type { LinkDelay, MemoryNetworkOptions } from './network'
export { memoryClientTransport, memoryTransport } from './transport'
export type { MemoryClientTransportOptions, MemoryTransportOptions } from './transport'
