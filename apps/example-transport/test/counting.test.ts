import { LockstepClient } from '@lockstep/client'
import { ReplicaHost } from '@lockstep/core'
import { realScheduler, silentLogger, type ReplicaId } from '@lockstep/interface'
import { kv } from '@lockstep/machines'
import { lamport } from '@lockstep/order-lamport'
import { MemoryNetwork, memoryClientTransport, memoryTransport } from '@lockstep/transport-memory'
import { describe, expect, it } from 'vitest'
import { countingTransport, LinkCounts } from '../src/index'

describe('the counting transport', () => {
  it('counts each message once at each end of its link', async () => {
    const scheduler = realScheduler()
    const network = new MemoryNetwork({ scheduler })
    const counts = new LinkCounts()
    const factory = countingTransport({ inner: memoryTransport({ network, replicas: ['r1', 'r2'] }), counts })
    const [r1, r2] = (['r1', 'r2'] as const).map((self) => factory({ self, scheduler, log: silentLogger }))
    let arrived = 0
    let allArrived: () => void = () => {}
    const done = new Promise<void>((resolve) => (allArrived = resolve))
    await r1!.start({ onPeerMessage: () => {}, onClientMessage: () => {} })
    await r2!.start({ onPeerMessage: () => (++arrived === 3 ? allArrived() : undefined), onClientMessage: () => {} })
    for (const n of [1, 2, 3]) r1!.send('r2', { n })
    expect(counts.link('r1', 'r2')).toEqual({ from: 'r1', to: 'r2', sent: 3, received: 0 })
    await done
    expect(counts.links()).toEqual([{ from: 'r1', to: 'r2', sent: 3, received: 3 }])
    expect(() => r1!.send('r9', { n: 4 })).toThrow()
    expect(counts.totalSent()).toBe(3)
    await Promise.all([r1!.stop(), r2!.stop()])
  })

  it('shows the traffic of a replicated service on every link', async () => {
    const network = new MemoryNetwork({ scheduler: realScheduler() })
    const replicas: ReplicaId[] = ['r1', 'r2', 'r3']
    const counts = new LinkCounts()
    const transport = countingTransport({ inner: memoryTransport({ network, replicas }), counts })
    const hosts = replicas.map((self) => new ReplicaHost({ self, replicas, machine: kv, orderer: lamport(), transport }))
    for (const host of hosts) await host.start()
    const client = new LockstepClient({ id: 'alice', replicas, transport: memoryClientTransport({ network, replicas }) })
    await client.start()
    try {
      await client.call({ name: 'put', args: { key: 'x', value: '1' } })
      // Before the Lamport orderer delivers a request, every member has received it and acknowledged it:
      // by the time the reply is in, every replica has both sent and received peer messages.
      for (const id of replicas) {
        const sent = counts.links().filter((link) => link.from === id).reduce((total, link) => total + link.sent, 0)
        const received = counts.links().filter((link) => link.to === id).reduce((total, link) => total + link.received, 0)
        expect({ id, sent: sent > 0, received: received > 0 }).toEqual({ id, sent: true, received: true })
      }
    } finally {
      await client.stop()
      for (const host of hosts) await host.stop()
    }
  })
})
