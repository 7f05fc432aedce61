import { ordererCompliance } from '@lockstep/testkit/compliance'
import { realtimeSimulation } from '../src/index'

// 3 machines × {3, 5} replicas × 40 seeds, without faults (the world's faults run in packages/conformance).
ordererCompliance(realtimeSimulation, { seedsPerConfig: 40 })
