import { realScheduler, silentLogger } from '@lockstep/interface'
import { MemoryNetwork, memoryClientTransport, memoryTransport, type LinkDelay } from '@lockstep/transport-memory'
import { transportCompliance, type TransportHarness } from '../src/compliance/index'
import { SeededRandom } from '../src/index'

function harness(delay: LinkDelay): TransportHarness {
  return {
    async createCluster(ids) {
      const scheduler = realScheduler()
      const network = new MemoryNetwork({ scheduler, random: new SeededRandom(7), delay })
      const transport = memoryTransport({ network, replicas: ids })
      const clientTransport = memoryClientTransport({ network, replicas: ids })
      return {
        transports: ids.map((self) => transport({ self, scheduler, log: silentLogger })),
        client: (self) => clientTransport({ self, scheduler, log: silentLogger }),
        cleanup: async () => {},
      }
    },
  }
}

// The same suite the TCP transport passes, on real time: with zero delay and with random per-message delays.
transportCompliance('memory (zero delay)', harness({ minMs: 0, maxMs: 0 }))
transportCompliance('memory (0–2 ms random delay)', harness({ minMs: 0, maxMs: 2 }))
