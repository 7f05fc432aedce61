export { LockClient } from './lock-client'
export { startInProcessCluster } from './in-process-cluster'
export type { InProcessCluster, InProcessClusterOptions } from './in-process-cluster'
