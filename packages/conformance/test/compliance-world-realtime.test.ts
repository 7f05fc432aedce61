import { ordererCompliance } from '@lockstep/testkit/compliance'
import { realtimeSimulation } from '@lockstep/order-realtime'

// The modelled world: overlapping faults of every kind under the strict budget (at most F replicas crashed,
// partitioned, slow, paused or restarted without state at once; blackouts kill all and restart them one by one),
// disks that take virtual time to sync, clients that restart under their id, and 200 requests per seed,
// paced so that faults strike while they run. 3 machines × {3, 5} replicas × 68 seeds = 408 runs per orderer in
// CI (one file per orderer, so that the two run at once: the package's test files run two at a time);
// `LOCKSTEP_SEEDS=N` runs N seeds per configuration.
ordererCompliance(realtimeSimulation, {
  faults: ['crash', 'restart', 'amnesia', 'partition', 'slow', 'delay', 'blackout', 'client-restart', 'pause'],
  durable: true,
  overlap: true,
  ops: 200,
  seedsPerConfig: Number(process.env.LOCKSTEP_SEEDS ?? 68),
})
