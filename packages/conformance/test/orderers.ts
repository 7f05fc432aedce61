import { lamport, lamportSimulation } from '@lockstep/order-lamport'
import { realtime, realtimeSimulation } from '@lockstep/order-realtime'
import type { OrdererFactory } from '@lockstep/interface'

/**
 * Every orderer of the repository, for the simulation tests that run once per orderer: `make` builds the
 * factory a `SimCluster` takes (fixed options), `simulation` is what `simulate` and the compliance suites
 * draw options from per seed.
 */
export const orderers = [
  { name: 'lamport', make: (): OrdererFactory => lamport({ heartbeatMs: 10 }), simulation: lamportSimulation },
  // Δ well above the simulated network's delays (the replicas' clocks agree unless a test skews them).
  { name: 'realtime', make: (): OrdererFactory => realtime({ heartbeatMs: 10, maxDelayMs: 200, maxSkewMs: 1 }), simulation: realtimeSimulation },
] as const
