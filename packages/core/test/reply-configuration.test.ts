import { describe, expect, it } from 'vitest'
import { silentLogger, type ClientConfiguration, type ReplicaToClient } from '@lockstep/interface'
import { register } from '@lockstep/machines'
import { RequestPath } from '../src/engine/request-path'

// Replies carry the cluster's configuration so that a client sends to the configured replicas first (machines
// replaced since may still be in its list); each client is told once per configuration, not on every reply.
describe('the configuration in replies', () => {
  function path() {
    const sent: { to: string; message: ReplicaToClient }[] = []
    let configuration: ClientConfiguration = { view: 1, replicas: ['r1', 'r2', 'r3'] }
    const requestPath: RequestPath<unknown> = new RequestPath(register, {
      self: 'r1',
      effects: { sendToPeer: () => {}, sendToClient: (to, message) => sent.push({ to, message }) },
      log: silentLogger,
      status: () => 'normal',
      order: (request) => requestPath.execute(request),
      now: () => 0,
      startingCluster: () => false,
      configuration: () => configuration,
    })
    let seq = 0
    return {
      request: (client: string, incarnation = 0) => requestPath.onClientMessage(client, { type: 'request', request: { client, seq: ++seq, command: { name: 'read' }, incarnation } }),
      told: () => sent.map(({ to, message }) => `${to}:${message.type === 'reply' ? (message.configuration?.view ?? '-') : message.type}`),
      change: (next: ClientConfiguration) => (configuration = next),
      sent,
    }
  }

  it("goes with a client's first reply, and again with its first reply after the configuration changed", () => {
    const p = path()
    p.request('c1')
    p.request('c1')
    p.request('c2')
    p.change({ view: 4, replicas: ['r1', 'r2', 'r4'] })
    p.request('c1')
    p.request('c1')
    p.request('c2')
    expect(p.told()).toEqual(['c1:1', 'c1:-', 'c2:1', 'c1:4', 'c1:-', 'c2:4'])
    expect(p.sent[3]!.message).toMatchObject({ configuration: { view: 4, replicas: ['r1', 'r2', 'r4'] } })
  })

  it('tells a new run of a client (a higher incarnation, under the same id) again', () => {
    const p = path()
    p.request('c1', 100)
    p.request('c1', 100)
    p.request('c1', 200)
    p.request('c1', 200)
    expect(p.told()).toEqual(['c1:1', 'c1:-', 'c1:1', 'c1:-'])
  })

  it('forgets the clients told once 10,000 were, and tells them again', () => {
    const p = path()
    for (let i = 0; i < 10_000; i++) p.request(`c${i}`)
    p.request('c0')
    p.request('c0')
    expect(p.told().slice(-3)).toEqual(['c9999:1', 'c0:1', 'c0:-'])
    expect(p.told().filter((told) => told.endsWith(':1'))).toHaveLength(10_001)
  })
})
