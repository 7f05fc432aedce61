export { DEFAULT_TTL_MS, LockClient, MAX_TTL_MS, MIN_TTL_MS } from './lock-client'
export type { AcquireOptions, Grant, LockClientOptions } from './lock-client'
export { startInProcessCluster } from './in-process-cluster'
export type { InProcessCluster, InProcessClusterOptions } from './in-process-cluster'
