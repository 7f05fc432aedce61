import { LockstepClient } from '@lockstep/client'
import { ReplicaHost } from '@lockstep/core'
import { ErrorCodes, LockstepError, realScheduler, type OrdererFactory, type Scheduler, type StateMachine } from '@lockstep/interface'
import { lamport } from '@lockstep/order-lamport'
import { MemoryNetwork, memoryClientTransport, memoryTransport, type LinkDelay } from '@lockstep/transport-memory'
import { SeededRandom } from '@lockstep/testkit'

/** Options of {@link startInProcessCluster}. */
export interface InProcessClusterOptions {
  readonly machine: StateMachine
  /** Default 3. */
  readonly replicas?: number
  /** Default Lamport ordering. */
  readonly orderer?: OrdererFactory
  /** Simulated link delay; default none. */
  readonly delay?: LinkDelay
  readonly seed?: number
  readonly scheduler?: Scheduler
}

/** A cluster of replicas in this process over the memory network, on real time. */
export interface InProcessCluster {
  readonly replicaIds: readonly string[]
  readonly hosts: readonly ReplicaHost[]
  /** A started client; `options.preferred` names the replica it tries first (default r1), as `LocalCluster.client` of @lockstep/cli. */
  client(id: string, options?: { readonly preferred?: string }): Promise<LockstepClient>
  stop(): Promise<void>
}

/** Starts N replicas in one process: the quickest way to run a replicated service. */
export async function startInProcessCluster(options: InProcessClusterOptions): Promise<InProcessCluster> {
  const scheduler = options.scheduler ?? realScheduler()
  const network = new MemoryNetwork({ scheduler, random: new SeededRandom(options.seed ?? 1), delay: options.delay })
  const replicaIds = Array.from({ length: options.replicas ?? 3 }, (_, i) => `r${i + 1}`)
  const hosts = replicaIds.map(
    (id) =>
      new ReplicaHost({
        self: id,
        replicas: replicaIds,
        machine: options.machine,
        orderer: options.orderer ?? lamport(),
        transport: memoryTransport({ network, replicas: replicaIds }),
        scheduler,
      }),
  )
  for (const host of hosts) await host.start()
  const clients: LockstepClient[] = []
  return {
    replicaIds,
    hosts,
    async client(id, { preferred = replicaIds[0]! } = {}) {
      if (!replicaIds.includes(preferred)) throw new LockstepError(ErrorCodes.INVALID_CONFIG, `replica ${preferred} is not a replica of this cluster (${replicaIds.join(', ')})`)
      const order = [preferred, ...replicaIds.filter((r) => r !== preferred)]
      const client = new LockstepClient({ id, transport: memoryClientTransport({ network, replicas: replicaIds }), replicas: order, scheduler })
      await client.start()
      clients.push(client)
      return client
    },
    async stop() {
      for (const client of clients) await client.stop()
      for (const host of hosts) await host.stop()
    },
  }
}
