import { realScheduler } from '@lockstep/core'
import { MemoryNetwork, memoryClientTransport, memoryTransport, type LinkDelay } from '@lockstep/transport-memory'
import { transportCompliance, type TransportHarness } from '../src/compliance/index'
import { SeededRandom } from '../src/index'

function harness(delay: LinkDelay): TransportHarness {
  return {
    async createCluster(ids) {
      const network = new MemoryNetwork({ scheduler: realScheduler(), random: new SeededRandom(7), delay })
      return {
        transports: ids.map((self) => memoryTransport({ network, self, replicas: ids })),
        client: (self) => memoryClientTransport({ network, self, replicas: ids }),
        cleanup: async () => {},
      }
    },
  }
}

// The same suite the TCP transport passes, on real time: with zero delay and with random per-message delays.
transportCompliance('memory (zero delay)', harness({ minMs: 0, maxMs: 0 }))
transportCompliance('memory (0–2 ms random delay)', harness({ minMs: 0, maxMs: 2 }))
