import { ordererCompliance } from '@lockstep/testkit/compliance'
import { lamportSimulation } from '@lockstep/order-lamport'
import { realtimeSimulation } from '@lockstep/order-realtime'

// The modelled world without disks: every restart is an amnesia (the replica's usual command line, memory
// storage), overlapping with crashes, partitions, slow replicas, delay spikes and client restarts under the
// strict budget. 3 machines × {3, 5} replicas × 48 seeds = 288 runs per orderer in CI (with compliance-world: 768);
// `LOCKSTEP_SEEDS=N` runs N seeds per configuration.
for (const spec of [lamportSimulation, realtimeSimulation]) ordererCompliance(spec, {
  faults: ['crash', 'restart', 'amnesia', 'partition', 'slow', 'delay', 'client-restart'],
  overlap: true,
  ops: 200,
  seedsPerConfig: Number(process.env.LOCKSTEP_SEEDS ?? 48),
})
