export { main, usage } from './main'
export { ExitCode, processIo } from './io'
export type { Io } from './io'
export { simCommand } from './commands/sim'
export { compileCommand } from './commands/compile'
export { execCommand } from './commands/exec'
export { checkCommand } from './commands/check'
export { lincheckCommand } from './commands/lincheck'
export { replicaCommand } from './commands/replica'
export { clusterCommand } from './commands/cluster'
export { clientCommand } from './commands/client'
export { benchCommand } from './commands/bench'
export { dashboardCommand } from './commands/dashboard'
export type { BenchResult, BenchWorkload } from './commands/bench'
export {
  authProblems,
  clusterConfigSchema,
  configError,
  DEFAULT_TIMEOUTS,
  loadClusterConfig,
  parseClusterConfig,
  readSecret,
  validateClusterConfig,
} from './cluster-config'
export type { ClusterConfig, ClusterTimeouts, ConfigProblem, LoadedClusterConfig, ReplicaEntry, SecretSource, VoterName } from './cluster-config'
export { cliBin, describeUncleanStop, freePorts, isAddressInUse, REPLICA_STOP_GRACE_MS, retryWhileAddressInUse, startLocalCluster, stoppedCleanly, upLocalCluster, writeLocalClusterConfig } from './local-cluster'
export type { LocalClientOptions, LocalCluster, LocalClusterSpec, LocalReplica, ReplicaExit, ReplicaStopped } from './local-cluster'
export type { ReplicaProcessEvent, ReplicaProcessRequest, ReplicaStatus } from './replica-ipc'
export { ClusterClient, clusterClient, voterFor } from './cluster-client'
export type { ClusterClientOptions } from './cluster-client'
export type { ReloadedRevocationLists } from './revocation-lists'
export { TEST_LIE_VARIABLE, startReplica, testLie } from './replica-runner'
export type { RunningReplica } from './replica-runner'
export { TEST_CLOCK_VARIABLE, testClockSkewable } from './test-clock'
export { withFileSizeLimit } from './file-size-limit'
export { loadMachine } from './machine-source'
export { loadWorkload } from './machine-loader'
