// The compliance suites register vitest tests, so they import vitest: they live behind their own entry
// (`@lockstep/testkit/compliance`) and the root entry never loads them.
export { ordererCompliance } from './orderer'
export type { OrdererComplianceOptions } from './orderer'
export { transportCompliance } from './transport'
export type { TransportCapabilities, TransportCapability, TransportCluster, TransportHarness } from './transport'
export { MessageInbox } from './message-inbox'
export type { Received } from './message-inbox'
