import { describe, expect, it } from 'vitest'
import { kv } from '@lockstep/machines'
import { lamport } from '@lockstep/order-lamport'
import { ReplicaEngine, type PeerMessage } from '../src/index'

/** Replica `self` of r1, r2, r3 started without any state (memory storage, no join flag), its messages recorded. */
function freshReplica(self: string, incarnation: number) {
  const sent: { to: string; message: PeerMessage }[] = []
  const lines: string[] = []
  let now = 1_000
  const engine = new ReplicaEngine({
    self,
    machine: kv,
    orderer: lamport({ heartbeatMs: 10 }),
    clock: { now: () => now },
    view: { id: 1, members: ['r1', 'r2', 'r3'] },
    replicas: ['r1', 'r2', 'r3'],
    membership: { heartbeatMs: 10, suspectAfterMs: 30, viewChangeTimeoutMs: 60 },
    startAs: 'fresh',
    incarnation,
    log: { debug: () => {}, info: (m) => lines.push(m), warn: (m) => lines.push(m), error: (m) => lines.push(m) },
    effects: { sendToPeer: (to, message) => sent.push({ to, message }), sendToClient: () => {} },
  })
  const tick = (ms: number) => {
    for (let t = 0; t < ms; t += 5) {
      now += 5
      engine.tick()
    }
  }
  return { engine, sent, lines, tick }
}

const joinsTo = (sent: { to: string; message: PeerMessage }[], to: string) => sent.filter((s) => s.to === to && s.message.kind === 'join').map((s) => s.message as Extract<PeerMessage, { kind: 'join' }>)

describe('starting a new cluster (replicas without state)', () => {
  it('Found: a fresh join sent before this replica started (held on a link, then sent to its new process) does not count', () => {
    // r2 restarted without its state. r3 had asked to join as a fresh replica when the cluster first started; its
    // link to r2 never connected before the old r2 died, so the TCP transport sent the new r2 everything it held,
    // that join first. r3 has run the cluster since (with r1): r2 must not start a new, empty cluster with it.
    const r2 = freshReplica('r2', 2_000)
    r2.engine.onPeerMessage('r3', { kind: 'join', incarnation: 300, fresh: true })
    r2.tick(20)
    expect(r2.engine.status).toBe('joining')
    expect(r2.lines.filter((l) => l.includes('starts a new cluster'))).toEqual([])
  })

  it('fresh replicas start the cluster once a majority confirmed to each other that they are fresh, within a round trip', () => {
    const replicas = { r1: freshReplica('r1', 100), r2: freshReplica('r2', 200) }
    const handed = { r1: 0, r2: 0 }
    /** Hands each replica's messages to the other so far; returns how many went. */
    const pump = () => {
      let moved = 0
      for (const [from, to] of [['r1', 'r2'], ['r2', 'r1']] as const) {
        const { sent } = replicas[from]
        for (; handed[from] < sent.length; handed[from]++) {
          const { to: target, message } = sent[handed[from]]!
          if (target !== to) continue
          replicas[to].engine.onPeerMessage(from, message)
          moved++
        }
      }
      return moved
    }
    for (const r of Object.values(replicas)) r.tick(5) // each asks to join, saying it is fresh and knows nobody
    const firstJoins = joinsTo(replicas.r1.sent, 'r2')
    expect(firstJoins).toEqual([{ kind: 'join', incarnation: 100, fresh: true }])
    let rounds = 0
    while (pump() > 0 && rounds < 10) rounds++
    // r2 heard r1 and answered at once naming it; r1 then counted r2, answered naming it, and started; r2 counted r1.
    expect([replicas.r1.engine.status, replicas.r2.engine.status]).toEqual(['normal', 'normal'])
    expect(replicas.r1.engine.view).toEqual({ id: 1, members: ['r1', 'r2', 'r3'] })
    expect(joinsTo(replicas.r2.sent, 'r1').at(-1)).toEqual({ kind: 'join', incarnation: 200, fresh: true, knows: { r1: 100 } })
    expect(rounds).toBeLessThanOrEqual(3)
  })

  it('a join naming an earlier run of this replica does not confirm it', () => {
    const r2 = freshReplica('r2', 2_000)
    r2.engine.onPeerMessage('r3', { kind: 'join', incarnation: 300, fresh: true, knows: { r2: 1_000 } })
    r2.tick(20)
    expect(r2.engine.status).toBe('joining')
    // It answers r3 at once, naming it, so that a fresh r3 can confirm it.
    expect(joinsTo(r2.sent, 'r3')[0]).toEqual({ kind: 'join', incarnation: 2_000, fresh: true, knows: { r3: 300 } })
    r2.engine.onPeerMessage('r3', { kind: 'join', incarnation: 300, fresh: true, knows: { r2: 2_000 } })
    expect(r2.engine.status).toBe('normal')
  })

  /** r1 and r2 start the cluster between themselves (r3 not up yet); returns them and a pump that hands messages among `live`. */
  function startedPair() {
    const replicas: Record<string, ReturnType<typeof freshReplica>> = { r1: freshReplica('r1', 100), r2: freshReplica('r2', 200) }
    const handed: Record<string, number> = {}
    const pump = () => {
      let moved = 0
      for (const [from, replica] of Object.entries(replicas)) {
        for (handed[from] ??= 0; handed[from] < replica.sent.length; handed[from]++) {
          const { to, message } = replica.sent[handed[from]]!
          const target = replicas[to]
          if (!target) continue
          target.engine.onPeerMessage(from, message)
          moved++
        }
      }
      return moved
    }
    const settle = () => {
      for (let rounds = 0; pump() > 0 && rounds < 20; rounds++);
    }
    for (const r of Object.values(replicas)) r.tick(5)
    settle()
    expect([replicas.r1!.engine.status, replicas.r2!.engine.status]).toEqual(['normal', 'normal'])
    return { replicas, settle }
  }

  it('Found: a member of the initial view that starts a moment after the others starts in the initial view, without a view change', () => {
    // Real processes: r1 and r2 started the cluster before r3 listened. r3, not counting their first joins (they
    // do not name its run), waited; a view change added it two seconds later, and a request submitted at once took
    // two positions (the lock service's process test waited for position 2 forever).
    const { replicas, settle } = startedPair()
    const r3 = freshReplica('r3', 300)
    replicas.r3 = r3
    r3.tick(5) // it asks to join, fresh
    settle()
    expect(r3.engine.status).toBe('normal')
    expect(r3.engine.view).toEqual({ id: 1, members: ['r1', 'r2', 'r3'] })
    expect(r3.lines.filter((l) => l.includes('starts a new cluster'))).toHaveLength(1)
    for (const r of Object.values(replicas)) r.tick(200) // well past the view-change timeout: no view change adds r3
    settle()
    expect(Object.values(replicas).map((r) => r.engine.view.id)).toEqual([1, 1, 1])
  })

  it('a running member confirms no late fresh join from a peer it heard otherwise (another run of it)', () => {
    const { replicas, settle } = startedPair()
    // r1 heard r3 serve in the view (a heartbeat of view 1): a fresh join from r3 now is a restarted r3.
    replicas.r1!.engine.onPeerMessage('r3', { kind: 'heartbeat', view: 1, suspects: [] })
    replicas.r2!.engine.onPeerMessage('r3', { kind: 'heartbeat', view: 1, suspects: [] })
    const r3 = freshReplica('r3', 301)
    replicas.r3 = r3
    r3.tick(5)
    settle()
    expect(r3.engine.status).toBe('joining')
    expect(r3.lines.filter((l) => l.includes('starts a new cluster'))).toEqual([])
  })
})
