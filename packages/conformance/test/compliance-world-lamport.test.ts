import { ordererCompliance } from '@lockstep/testkit/compliance'
import { lamportSimulation } from '@lockstep/order-lamport'

// The modelled world: overlapping faults of every kind under the strict budget (at most F replicas crashed,
// partitioned, slow, paused or restarted without state at once; blackouts kill all and restart them one by one),
// disks that take virtual time to sync, clients that restart under their id, and 200 requests per seed,
// paced so that faults strike while they run. 3 machines × {3, 5} replicas × 80 seeds = 480 runs per orderer in
// CI (one file per orderer, so that the two run at once: the package's test files run two at a time);
// `LOCKSTEP_SEEDS=N` runs N seeds per configuration.
ordererCompliance(lamportSimulation, {
  faults: ['crash', 'restart', 'amnesia', 'partition', 'slow', 'delay', 'blackout', 'client-restart', 'pause'],
  durable: true,
  overlap: true,
  ops: 200,
  seedsPerConfig: Number(process.env.LOCKSTEP_SEEDS ?? 80),
})
