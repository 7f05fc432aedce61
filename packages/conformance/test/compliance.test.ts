import { ordererCompliance } from '@lockstep/testkit/compliance'
import { lamportSimulation } from '@lockstep/order-lamport'

// 3 machines × {3, 5} replicas × 340 seeds = 2,040 simulated runs, the heartbeat interval drawn per seed.
ordererCompliance(lamportSimulation)
