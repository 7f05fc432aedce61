/** What {@link startProcessCluster} tells a replica process over its IPC channel. */
export type ParentMessage =
  | {
      readonly type: 'configure'
      readonly self: string
      readonly replicas: readonly string[]
      readonly clusterId: string
      readonly machine: string
      readonly replicaSecret: string
      readonly clientSecret: string
      readonly logLevel: 'debug' | 'info' | 'warn' | 'error'
    }
  | { readonly type: 'peers'; readonly peers: readonly { readonly id: string; readonly port: number }[] }
  | { readonly type: 'status' }
  | { readonly type: 'stop' }

/** What a replica process reports back. */
export type ReplicaMessage =
  | { readonly type: 'bound'; readonly id: string; readonly port: number; readonly pid: number }
  | { readonly type: 'started'; readonly id: string }
  | { readonly type: 'status'; readonly id: string; readonly position: number; readonly digest: string; readonly view: readonly string[]; readonly state: string }
  | { readonly type: 'stopped'; readonly id: string }
  | { readonly type: 'failed'; readonly id: string; readonly message: string }
