// Until @lockstep/testkit re-exports the suite, import it from its source.
import { transportCompliance } from '@lockstep/testkit'
import type { ClientTransport } from '@lockstep/interface'
import { bindCluster, clientFor } from './helpers'

transportCompliance('tcp', {
  async createCluster(ids) {
    const transports = await bindCluster(ids)
    const clients: ClientTransport[] = []
    return {
      transports,
      client(id) {
        const client = clientFor(id, transports)
        clients.push(client)
        return client
      },
      async cleanup() {
        await Promise.all([...clients.map((c) => c.stop()), ...transports.map((t) => t.stop())])
      },
    }
  },
})
