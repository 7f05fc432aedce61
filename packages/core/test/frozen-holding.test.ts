import { describe, expect, it } from 'vitest'
import { kv } from '@lockstep/machines'
import { crashTolerantOrderer } from '@lockstep/interface'
import { ReplicaEngine } from '../src/index'
import type { PeerMessage } from '../src/engine/peer-messages'
import { immediate } from './helpers'

/** r5 (or `self`), a member of view 1 of five replicas whose replies wait for a majority's disks; what it sends, by peer. */
function member(self = 'r5') {
  const sent: [string, PeerMessage][] = []
  const clock = { time: 0, now: () => clock.time }
  const engine = new ReplicaEngine({
    self,
    machine: kv,
    orderer: (ctx) => ({ ...immediate(ctx), [crashTolerantOrderer]: true as const, freeze: () => ({}), mergeReports: () => ({}), install: () => true }),
    clock,
    view: { id: 1, members: ['r1', 'r2', 'r3', 'r4', 'r5'] },
    effects: { sendToPeer: (to, message) => sent.push([to, message as PeerMessage]), sendToClient: () => {} },
    membership: {},
    startAs: 'member',
    durableReplies: true,
  })
  return { engine, sent, clock }
}

describe('what a frozen member says it holds', () => {
  it('in the view change it froze for: the live state; in a later one, whose value it never heard: the state of its view as it froze it (Found: semaphore spec, seed 25)', () => {
    const { engine, sent } = member()
    engine.onPeerMessage('r1', { kind: 'prepare', view: 2, ballot: { round: 1, coordinator: 'r1' } })
    expect(engine.status).toBe('frozen')
    const first = sent.find(([to, m]) => to === 'r1' && m.kind === 'promise')![1]
    expect(first).toMatchObject({ kind: 'promise', view: 2, holding: { kind: 'live' } })
    // View 2 was chosen (r1 installed it, then crashed); r5 never heard its value. The next view change asks r5.
    sent.length = 0
    engine.onPeerMessage('r2', { kind: 'prepare', view: 3, ballot: { round: 2, coordinator: 'r2' } })
    const second = sent.find(([to, m]) => to === 'r2' && m.kind === 'promise')?.[1]
    expect(second).toMatchObject({ kind: 'promise', view: 3, holding: { kind: 'disk', view: { id: 1 }, position: 0 } })
  })

  it('having said so, it does not end its view into the next by itself when it learns that view, and takes no state until the later view change ends', () => {
    const { engine, sent } = member()
    engine.onPeerMessage('r1', { kind: 'prepare', view: 2, ballot: { round: 1, coordinator: 'r1' } })
    engine.onPeerMessage('r2', { kind: 'prepare', view: 3, ballot: { round: 2, coordinator: 'r2' } })
    sent.length = 0
    const members = ['r1', 'r2', 'r3', 'r4', 'r5']
    engine.onPeerMessage('r1', { kind: 'commit', value: { view: { id: 2, members }, configuration: members, joining: [], incarnations: {}, boundary: {} } })
    // Without the rule it flushed view 1 into view 2 and served there: what it promised to hold for view 3 would not hold.
    expect(engine.view.id).toBe(2)
    expect(engine.status).toBe('transferring')
    // Asked again in view 3's change, it still says what it said.
    engine.onPeerMessage('r2', { kind: 'prepare', view: 3, ballot: { round: 3, coordinator: 'r2' } })
    expect(sent.find(([to, m]) => to === 'r2' && m.kind === 'promise')?.[1]).toMatchObject({ holding: { kind: 'disk', view: { id: 1 }, position: 0 } })
  })

  it('waiting so, it does not wait for ever: when the later view change does not end (its coordinator is gone), it starts one itself', () => {
    const { engine, sent, clock } = member()
    engine.onPeerMessage('r1', { kind: 'prepare', view: 2, ballot: { round: 1, coordinator: 'r1' } })
    engine.onPeerMessage('r2', { kind: 'prepare', view: 3, ballot: { round: 2, coordinator: 'r2' } })
    const members = ['r1', 'r2', 'r3', 'r4', 'r5']
    engine.onPeerMessage('r1', { kind: 'commit', value: { view: { id: 2, members }, configuration: members, joining: [], incarnations: {}, boundary: {} } })
    expect(engine.status).toBe('transferring')
    // r2, the coordinator of view 3, crashed; the members of view 2 hear from r5 (it orders and sends heartbeats),
    // so none of them finds a view change needed. r5 waits a few view-change timeouts (its turn), then starts one.
    sent.length = 0
    for (let t = 0; t < 500 && !sent.some(([, m]) => m.kind === 'prepare'); t++) {
      clock.time += 10
      for (const peer of ['r1', 'r3', 'r4']) engine.onPeerMessage(peer, { kind: 'heartbeat', view: 2, suspects: [] })
      engine.tick()
    }
    const prepare = sent.find(([, m]) => m.kind === 'prepare')?.[1]
    expect(prepare, 'r5 started no view change in 5 s').toMatchObject({ kind: 'prepare', view: 3 })
  })

  it('having promised in a later view change, a member taking its view\'s state does not complete the transfer on a retry either (Found: sweep grid forming, seed 25300059)', () => {
    // r5 executed a request r1 never got, so r1 sends it its whole state (not the order after its own), which r5
    // then waits for the other sources to confirm, asking again on its ticks. Meanwhile it promised in view 3's
    // change, holding its state of view 1. Without the rule a tick's retry took r1's state once the confirmations
    // ran out and r5 served view 2 (status normal): with a state newer than its promise, whose order view 3,
    // chosen from such promises, may drop after r5 helped a majority release replies from it.
    const r5 = member()
    const r1 = member('r1')
    const members = ['r1', 'r2', 'r3', 'r4', 'r5']
    r5.engine.onClientMessage('c1', { type: 'request', request: { client: 'c1', seq: 1, command: { name: 'put', args: { key: 'a', value: 'x' } } } })
    const commit = { view: { id: 2, members }, configuration: members, joining: ['r5'], incarnations: {}, boundary: {} }
    r5.engine.onPeerMessage('r1', { kind: 'prepare', view: 2, ballot: { round: 1, coordinator: 'r1' } })
    r1.engine.onPeerMessage('r2', { kind: 'prepare', view: 2, ballot: { round: 1, coordinator: 'r2' } })
    r1.engine.onPeerMessage('r2', { kind: 'commit', value: commit })
    r5.engine.onPeerMessage('r1', { kind: 'commit', value: commit })
    expect(r5.engine.status).toBe('transferring')
    /** Delivers what r5 and r1 send each other until neither sends more (r2, r3 and r4 never answer). */
    const exchange = () => {
      for (let round = 0; round < 20; round++) {
        const toR1 = r5.sent.splice(0).filter(([to]) => to === 'r1')
        for (const [, m] of toR1) r1.engine.onPeerMessage('r5', m)
        const toR5 = r1.sent.splice(0).filter(([to]) => to === 'r5')
        for (const [, m] of toR5) r5.engine.onPeerMessage('r1', m)
        if (toR1.length === 0 && toR5.length === 0) return
      }
    }
    exchange()
    expect(r5.engine.status).toBe('transferring') // the whole state is in, waiting for the others to confirm it
    r5.engine.onPeerMessage('r2', { kind: 'prepare', view: 3, ballot: { round: 2, coordinator: 'r2' } })
    for (let t = 0; t < 300; t++) {
      r5.clock.time += 10
      r1.clock.time += 10
      for (const peer of ['r1', 'r3', 'r4']) r5.engine.onPeerMessage(peer, { kind: 'heartbeat', view: 2, suspects: [] })
      r5.engine.tick()
      exchange()
      expect(r5.engine.status, `at ${r5.clock.time} ms`).toBe('transferring')
    }
  })
})
