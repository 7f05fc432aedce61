import { ordererCompliance } from '@lockstep/testkit/compliance'
import { lamportSimulation } from '@lockstep/order-lamport'
import { realtimeSimulation } from '@lockstep/order-realtime'

// The modelled world with links that behave like the TCP transport's across a crash: what was on its way to a
// crashed replica, and what was sent to it while it was down, goes to its next run (`heldForRestart`). With
// and without disks. 3 machines × {3, 5} replicas × 12 seeds = 72 runs per orderer and setting in CI;
// `LOCKSTEP_SEEDS=N` runs N seeds per configuration (`npm run sweep -- --grid held` runs more, on other seeds).
for (const spec of [lamportSimulation, realtimeSimulation]) {
  ordererCompliance(spec, {
    faults: ['crash', 'restart', 'amnesia', 'partition', 'slow', 'delay', 'client-restart'],
    overlap: true,
    heldForRestart: true,
    ops: 150,
    seedsPerConfig: Number(process.env.LOCKSTEP_SEEDS ?? 12),
  })
  ordererCompliance(spec, {
    faults: ['crash', 'restart', 'amnesia', 'partition', 'slow', 'delay', 'blackout', 'client-restart', 'pause'],
    durable: true,
    overlap: true,
    heldForRestart: true,
    ops: 150,
    seedsPerConfig: Number(process.env.LOCKSTEP_SEEDS ?? 12),
  })
}
