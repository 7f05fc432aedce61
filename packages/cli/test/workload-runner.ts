import type { LockstepClient } from '@lockstep/client'
import type { BuiltInMachineName } from '@lockstep/machines'
import { SeededRandom, workloads, type Operation, type WorkloadEvent } from '@lockstep/testkit'
import type { LocalCluster } from '../src/local-cluster'
import type { VoterName } from '../src/cluster-config'

/** A started client of a cluster that tries replica number `preferred` first. */
function connect(cluster: LocalCluster, id: string, preferred: number, voter?: VoterName, shareConnections?: boolean): Promise<LockstepClient> {
  return cluster.client(id, {
    preferred: cluster.replicas[preferred % cluster.replicas.length]!.id,
    retryAfterMs: 500,
    ...(voter ? { voter } : {}),
    ...(shareConnections ? { shareConnections } : {}),
  })
}

/**
 * Runs the testkit's workload for `machine` on `cluster` with real time: `clients` concurrent clients,
 * `opsPerClient` requests each, seeded choices, real sleeps between requests. `during` runs alongside and
 * may inject faults. Returns the history (for the linearizability checker) and the workload's events.
 */
export async function runClusterWorkload(
  cluster: LocalCluster,
  machine: BuiltInMachineName,
  seed: number,
  size: { readonly clients: number; readonly opsPerClient: number; readonly voter?: VoterName; readonly shareConnections?: boolean },
  during?: (history: Operation[]) => Promise<void>,
): Promise<{ history: Operation[]; events: WorkloadEvent[]; dissent: Record<string, number> }> {
  const workload = workloads[machine]!
  const history: Operation[] = []
  const events: WorkloadEvent[] = []
  let ticks = 0
  const running = await Promise.all(Array.from({ length: size.clients }, (_, i) => connect(cluster, `${machine}-client-${i + 1}`, i, size.voter, size.shareConnections)))
  await Promise.all([
    ...running.map((client, i) =>
      workload.runClient({
        id: client.id,
        client,
        random: new SeededRandom(seed * 1000 + i),
        requests: size.opsPerClient,
        now: () => performance.now(),
        tick: () => ++ticks,
        sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
        record: (operation) => history.push(operation),
        note: (event) => events.push(event),
      }),
    ),
    during?.(history),
  ])
  await Promise.all(running.map((c) => c.stop()))
  // How often each replica was outvoted, over every client (voters other than first).
  const dissent: Record<string, number> = {}
  for (const client of running) for (const [replica, count] of Object.entries(client.dissent.byReplica)) dissent[replica] = (dissent[replica] ?? 0) + count
  return { history, events, dissent }
}
