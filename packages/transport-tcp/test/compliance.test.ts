import { transportCompliance } from '@lockstep/testkit/compliance'
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
