import { describe, expect, it } from 'vitest'
import { kv, mutex } from '@lockstep/machines'
import { lamport } from '@lockstep/order-lamport'
import type { Transport } from '@lockstep/interface'
import { ReplicaHost } from '../src/index'
import { loneMember, manualScheduler } from './helpers'



describe('what an operator can read from a replica', () => {
  it('the members it suspects: those silent longer than suspectAfterMs', () => {
    const { host, clock } = loneMember({ membership: { heartbeatMs: 50, suspectAfterMs: 500 } })
    expect(host.engine.suspected).toEqual([])
    clock.nowMs = 501
    expect(host.engine.suspected).toEqual(['r2', 'r3'])
  })

  it('its configuration and the depth of its queues', () => {
    const { host } = loneMember({ membership: { heartbeatMs: 50, suspectAfterMs: 500 } })
    expect(host.engine.configuration).toEqual(['r1', 'r2', 'r3'])
    expect(host.engine.queueDepths).toEqual({ orderer: 0, heldForTransfer: 0, repliesWaiting: 0 })
    // Lamport's orderer holds a request until every member sent a higher stamp: the silent peers never do.
    host.engine.onClientMessage('c1', { type: 'request', request: { client: 'c1', seq: 1, command: { name: 'put', args: { key: 'a', value: '1' } } } })
    expect(host.engine.queueDepths.orderer).toBe(1)
    expect(host.engine.pending).toBe(1)
  })
})

describe('the machine\'s summary of its state', () => {
  it('is the machine\'s summary of the state (the mutex: holder and queue), undefined for a machine without one', () => {
    const { host } = loneMember({ membership: { heartbeatMs: 50, suspectAfterMs: 500 } })
    expect(host.engine.stateSummary()).toBeUndefined()
    const { scheduler } = manualScheduler()
    const silent: Transport = { self: 'r1', start: async () => {}, send() {}, sendToClient() {}, stop: async () => {} }
    const lone = new ReplicaHost({ self: 'r1', replicas: ['r1'], machine: mutex, orderer: lamport(), transport: () => silent, startAsMember: true, scheduler })
    expect(lone.engine.stateSummary()).toEqual({ user: null, waiting: { count: 0, items: [] } })
  })
})

describe('clock offsets', () => {
  it('are the orderer\'s estimates when it keeps them, undefined with Lamport\'s', async () => {
    const { realtime } = await import('@lockstep/order-realtime')
    const { scheduler } = manualScheduler()
    const host = new ReplicaHost({ self: 'r1', replicas: ['r1', 'r2'], machine: kv, orderer: realtime(), transport: (c) => ({ self: c.self, start: async () => {}, send() {}, sendToClient() {}, stop: async () => {} }), startAsMember: true, scheduler })
    expect(host.engine.clockOffsets).toEqual({})
    expect(loneMember({ membership: { heartbeatMs: 50, suspectAfterMs: 500 } }).host.engine.clockOffsets).toBeUndefined()
  })
})

describe('the configuration a replica reports with its view', () => {
  it('a replica told of a newer view it is not a member of reports that view\'s configuration, not its older one', () => {
    // r1 serves in view 1 (r1..r4); views 2 (an operator removed r4) and 3 (r1 left out) pass it by. It learns of
    // view 3 from its chosen value: it joins that view, and the configuration it reports is view 3's.
    const { host } = loneMember({ replicas: ['r1', 'r2', 'r3', 'r4'], membership: { heartbeatMs: 50, suspectAfterMs: 500 } })
    expect(host.engine.viewConfiguration).toEqual({ view: 1, replicas: ['r1', 'r2', 'r3', 'r4'] })
    const value = { view: { id: 3, members: ['r2', 'r3'] }, configuration: ['r1', 'r2', 'r3'], joining: [], incarnations: {}, boundary: undefined }
    host.engine.onPeerMessage('r2', { kind: 'commit', value })
    expect(host.engine.status).toBe('joining')
    expect(host.engine.view.id).toBe(3)
    expect(host.engine.viewConfiguration).toEqual({ view: 3, replicas: ['r1', 'r2', 'r3'] })
  })

  it('one told just that it was removed names the view its configuration is from', () => {
    const { host } = loneMember({ replicas: ['r1', 'r2', 'r3', 'r4'], membership: { heartbeatMs: 50, suspectAfterMs: 500 } })
    host.engine.onPeerMessage('r2', { kind: 'removed', view: { id: 3, members: ['r2', 'r3'] } })
    expect(host.engine.status).toBe('joining')
    expect(host.engine.view.id).toBe(3)
    expect(host.engine.viewConfiguration).toEqual({ view: 1, replicas: ['r1', 'r2', 'r3', 'r4'] })
  })
})
