import { ordererCompliance } from '@lockstep/testkit/compliance'
import { lamportSimulation } from '@lockstep/order-lamport'
import { realtimeSimulation } from '@lockstep/order-realtime'

// Durable replicas, one fault at a time: disks that lose unsynced writes on a crash, crashed replicas restarting from them, and
// blackouts that kill the whole cluster at once. 3 machines × {3, 5} replicas × 100 seeds = 600 runs.
for (const spec of [lamportSimulation, realtimeSimulation]) ordererCompliance(spec, { faults: ['crash', 'restart', 'partition', 'slow', 'delay', 'blackout'], durable: true, overlap: false, ops: 60, seedsPerConfig: 100 })
