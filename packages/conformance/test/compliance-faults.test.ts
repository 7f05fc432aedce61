import { ordererCompliance } from '@lockstep/testkit/compliance'
import { lamportSimulation } from '@lockstep/order-lamport'
import { realtimeSimulation } from '@lockstep/order-realtime'

// Crash tolerance, one fault at a time (each waits until the cluster recovered from the last; the world
// runs overlap them): 3 machines × {3, 5} replicas (F = 1, 2) × 160 seeds = 960 runs with crashes,
// restarts without state, partitions, slow replicas and delay spikes drawn from each seed. `LOCKSTEP_SEEDS=N`
// runs N seeds per configuration.
for (const spec of [lamportSimulation, realtimeSimulation]) {
  ordererCompliance(spec, { faults: ['crash', 'restart', 'partition', 'slow', 'delay'], overlap: false, ops: 60, seedsPerConfig: Number(process.env.LOCKSTEP_SEEDS ?? 160) })
}
