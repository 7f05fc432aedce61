import { describe, expect, it } from 'vitest'
import type { ReplicaHost } from '@lockstep/core'
import { ReplicaMetrics } from '../src/replica-metrics'

/** An engine whose figures the test sets. */
function fakeEngine() {
  return {
    status: 'normal',
    view: { id: 2, members: ['r1', 'r2', 'r3'] },
    configuration: ['r1', 'r2', 'r3'],
    position: 7,
    pending: 1,
    queueDepths: { orderer: 1, heldForTransfer: 0, repliesWaiting: 0 },
    sessionCount: 2,
    suspected: [] as string[],
    clockOffsets: undefined,
  }
}

function measured() {
  const clock = { nowMs: 1000 }
  const engine = fakeEngine()
  const metrics = new ReplicaMetrics('r1', () => clock.nowMs)
  metrics.attach({ engine } as unknown as ReplicaHost, () => ({ peersConnected: ['r2'], clientConnections: 1, refusedConnections: 3 }), false)
  return { clock, engine, metrics }
}

const request = (seq: number) => ({ type: 'request', request: { client: 'c1', seq, command: { name: 'get' } } })

describe('a replica\'s metrics', () => {
  it('the stability lag is the age of the oldest request received and neither delivered nor answered', async () => {
    const { clock, metrics } = measured()
    metrics.clientMessage('c1', request(1))
    clock.nowMs = 1500
    metrics.clientMessage('c1', request(2))
    clock.nowMs = 2000
    expect((await metrics.status(false)).stabilityLag).toEqual({ pendingRequests: 1, oldestPendingMs: 1000 })
    metrics.delivered({ client: 'c1', seq: 1, command: { name: 'get' } })
    expect((await metrics.status(false)).stabilityLag.oldestPendingMs).toBe(500)
    metrics.clientReply('c1', { type: 'reply', from: 'r1', reply: { seq: 2 } })
    expect((await metrics.status(false)).stabilityLag.oldestPendingMs).toBeNull()
  })

  it('forgets the requests it waits for once the replica holds none', async () => {
    const { engine, metrics } = measured()
    metrics.clientMessage('c1', request(1))
    metrics.sample()
    expect((await metrics.status(false)).stabilityLag.oldestPendingMs).toBe(0)
    engine.pending = 0
    metrics.sample()
    expect((await metrics.status(false)).stabilityLag.oldestPendingMs).toBeNull()
  })

  it('counts requests per second over the samples, and each new suspicion once', async () => {
    const { clock, engine, metrics } = measured()
    metrics.sample()
    for (let seq = 1; seq <= 20; seq++) metrics.clientMessage('c1', request(seq))
    clock.nowMs += 2000
    expect((await metrics.status(false)).requestsPerSecond).toBe(10)
    engine.suspected = ['r3']
    metrics.sample()
    metrics.sample()
    engine.suspected = []
    metrics.sample()
    engine.suspected = ['r3']
    metrics.sample()
    const text = await metrics.registry.metrics()
    expect(text).toMatch(/^lockstep_suspicions_total\{replica="r1"\} 2$/m)
    expect(text).toMatch(/^lockstep_requests_total\{replica="r1"\} 20$/m)
    expect(text).toMatch(/^lockstep_refused_connections_total\{replica="r1"\} 3$/m)
    expect(text).toMatch(/^lockstep_stability_lag_requests\{replica="r1"\} 1$/m)
    expect(text).toMatch(/^lockstep_view\{replica="r1"\} 2$/m)
  })

  it('reports the status figures of the engine and the transport', async () => {
    const { metrics } = measured()
    expect(await metrics.status(false)).toMatchObject({
      id: 'r1',
      status: 'normal',
      view: { id: 2, members: ['r1', 'r2', 'r3'] },
      configuration: ['r1', 'r2', 'r3'],
      position: 7,
      queues: { orderer: 1, heldForTransfer: 0, repliesWaiting: 0 },
      peersConnected: ['r2'],
      clientConnections: 1,
      sessions: 2,
      digest: null,
      clockOffsets: null,
    })
  })
})
