export { countingTransport, LinkCounts } from './counting-transport'
export type { CountingTransportOptions, LinkCount } from './counting-transport'
