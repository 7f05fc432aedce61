import { ordererCompliance } from '@lockstep/testkit/compliance'
import { lamportSimulation } from '@lockstep/order-lamport'
import { realtimeSimulation } from '@lockstep/order-realtime'

// 3 machines × {3, 5} replicas × 340 seeds = 2,040 simulated runs, the heartbeat interval drawn per seed.
for (const spec of [lamportSimulation, realtimeSimulation]) ordererCompliance(spec)
