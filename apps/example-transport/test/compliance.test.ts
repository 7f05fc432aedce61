import { realScheduler, silentLogger } from '@lockstep/interface'
import { transportCompliance, type TransportHarness } from '@lockstep/testkit/compliance'
import { MemoryNetwork, memoryClientTransport, memoryTransport } from '@lockstep/transport-memory'
import { countingTransport, LinkCounts } from '../src/index'

// The suite every Lockstep transport passes (reliable FIFO links, exact payloads, client links, errors, a
// clean stop), run against the counting transport wrapped around the in-memory one.
const harness: TransportHarness = {
  async createCluster(ids) {
    const scheduler = realScheduler()
    const network = new MemoryNetwork({ scheduler })
    const transport = countingTransport({ inner: memoryTransport({ network, replicas: ids }), counts: new LinkCounts() })
    const clientTransport = memoryClientTransport({ network, replicas: ids })
    return {
      transports: ids.map((self) => transport({ self, scheduler, log: silentLogger })),
      client: (self) => clientTransport({ self, scheduler, log: silentLogger }),
      cleanup: async () => {},
    }
  },
}

transportCompliance('counting transport over memory', harness)
