import { describe, expect, it } from 'vitest'
import { kv } from '@lockstep/machines'
import { lamport } from '@lockstep/order-lamport'
import { ReplicaEngine, type PeerMessage } from '../src/index'

/** Replica `self` of r1, r2, r3 started without any state (memory storage, no join flag), its messages recorded. */
function freshReplica(self: string, incarnation: number, replicas: readonly string[] = ['r1', 'r2', 'r3']) {
  const sent: { to: string; message: PeerMessage }[] = []
  const lines: string[] = []
  let now = 1_000
  const engine = new ReplicaEngine({
    self,
    machine: kv,
    orderer: lamport({ heartbeatMs: 10 }),
    clock: { now: () => now },
    view: { id: 1, members: [...replicas] },
    replicas: [...replicas],
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

  it('fresh replicas confirm each other within a round trip; a majority starts the cluster once the rest stayed silent for the grace (suspectAfterMs)', () => {
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
    // r2 heard r1 and answered at once naming it; r1 then counted r2 and answered naming it; r2 counted r1.
    expect(rounds).toBeLessThanOrEqual(3)
    // A majority, but r3 may be a moment late: they wait for it through the grace, then start without it.
    expect([replicas.r1.engine.status, replicas.r2.engine.status]).toEqual(['joining', 'joining'])
    for (const r of Object.values(replicas)) r.tick(25)
    expect([replicas.r1.engine.status, replicas.r2.engine.status]).toEqual(['joining', 'joining'])
    for (const r of Object.values(replicas)) r.tick(10)
    pump()
    expect([replicas.r1.engine.status, replicas.r2.engine.status]).toEqual(['normal', 'normal'])
    expect(replicas.r1.engine.view).toEqual({ id: 1, members: ['r1', 'r2', 'r3'] })
    expect(joinsTo(replicas.r2.sent, 'r1').some((join) => join.knows?.r1 === 100)).toBe(true)
  })

  it('a join naming an earlier run of this replica does not confirm it', () => {
    const r2 = freshReplica('r2', 2_000)
    r2.engine.onPeerMessage('r3', { kind: 'join', incarnation: 300, fresh: true, knows: { r2: 1_000 } })
    r2.tick(20)
    expect(r2.engine.status).toBe('joining')
    // It answers r3 at once, naming it, so that a fresh r3 can confirm it.
    expect(joinsTo(r2.sent, 'r3')[0]).toEqual({ kind: 'join', incarnation: 2_000, fresh: true, knows: { r3: 300 } })
    r2.engine.onPeerMessage('r3', { kind: 'join', incarnation: 300, fresh: true, knows: { r2: 2_000 } })
    r2.tick(30) // the grace for r1
    expect(r2.engine.status).toBe('normal')
  })

  it('Found: a replica that starts a moment after a majority confirmed each other starts with them, in view 1, without a view change', () => {
    // Real processes: r1 and r2 started the cluster 10 ms before r3 listened. Not counting their first joins
    // (they did not name its run), r3 waited; a view change added it two seconds later, and a request submitted
    // at once was ordered again in view 2 (the lock service's and the dashboard's process tests waited for ever).
    const replicas: Record<string, ReturnType<typeof freshReplica>> = { r1: freshReplica('r1', 100), r2: freshReplica('r2', 200) }
    const handed: Record<string, number> = {}
    const pump = () => {
      let moved = 0
      for (const [from, replica] of Object.entries(replicas)) {
        for (handed[from] ??= 0; handed[from] < replica.sent.length; handed[from]++) {
          const { to, message } = replica.sent[handed[from]]!
          const target = replicas[to]
          if (!target) continue // r3 is not listening yet: lost
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
    for (const r of Object.values(replicas)) r.tick(10) // r1 and r2 confirmed each other 10 ms ago
    settle()
    const r3 = freshReplica('r3', 300)
    replicas.r3 = r3
    r3.tick(5) // it asks to join, fresh
    settle()
    expect(Object.values(replicas).map((r) => r.engine.status)).toEqual(['normal', 'normal', 'normal'])
    expect(Object.values(replicas).map((r) => r.lines.find((l) => l.includes('starts a new cluster')))).toEqual(['r1', 'r2', 'r3'].map((id) => `replica '${id}' starts a new cluster in view 1 with r1, r2, r3 (a majority started without state)`))
    for (const r of Object.values(replicas)) r.tick(200) // well past the view-change timeout: nothing adds r3 again
    settle()
    expect(Object.values(replicas).map((r) => r.engine.view.id)).toEqual([1, 1, 1])
  })

  it('a peer heard with a second incarnation while starting never counts (another replica may have started with its first run)', () => {
    const r2 = freshReplica('r2', 2_000)
    r2.engine.onPeerMessage('r1', { kind: 'join', incarnation: 100, fresh: true, knows: { r2: 2_000 } })
    r2.engine.onPeerMessage('r3', { kind: 'join', incarnation: 300, fresh: true })
    r2.engine.onPeerMessage('r3', { kind: 'join', incarnation: 301, fresh: true, knows: { r2: 2_000 } }) // r3 restarted
    expect(r2.engine.status).toBe('joining') // r1 alone confirmed it: a majority, waiting out the grace
    r2.tick(40)
    expect(r2.engine.status).toBe('normal')
    expect(r2.lines.filter((l) => l.includes('starts a new cluster'))).toEqual(["replica 'r2' starts a new cluster in view 1 with r1, r2 (a majority started without state)"])
    // Nor did it name the restarted r3 to anyone (its joins after the restart know r1 only).
    const joins = r2.sent.filter((s) => s.message.kind === 'join').map((s) => s.message as Extract<PeerMessage, { kind: 'join' }>)
    expect(joins.filter((j) => j.knows?.r3 === 301)).toEqual([])
  })

  it('the initial view served by a peer that never confirmed this run makes a fresh replica join instead of starting', () => {
    const r3 = freshReplica('r3', 300)
    r3.engine.onPeerMessage('r2', { kind: 'join', incarnation: 200, fresh: true, knows: { r3: 300 } }) // r2 confirmed r3
    r3.engine.onPeerMessage('r1', { kind: 'heartbeat', view: 1, suspects: [] }) // r1 started without this run of r3
    r3.tick(100) // well past the grace
    expect(r3.engine.status).toBe('joining')
    expect(r3.lines.filter((l) => l.includes('starts a new cluster'))).toEqual([])
    expect(r3.lines).toContain("replica 'r3' started without state and hears 'r1' serve in view 1, which 'r1' started without this run; it asks to join it")
  })

  it('the initial view served by a peer that confirmed this run makes a fresh replica with a majority start at once, without waiting out the grace', () => {
    const r3 = freshReplica('r3', 300)
    r3.engine.onPeerMessage('r2', { kind: 'join', incarnation: 200, fresh: true, knows: { r3: 300 } })
    r3.tick(5)
    expect(r3.engine.status).toBe('joining')
    r3.engine.onPeerMessage('r2', { kind: 'heartbeat', view: 1, suspects: [] }) // r2 started, with this run
    r3.tick(5)
    expect(r3.engine.status).toBe('normal')
  })

  it('Found: the initial view served first by a peer that never confirmed this run, then by one that did: the replica starts, whichever came first', () => {
    // Chaos (5 real processes under load): r2, r3 and r4 started counting r1; r5 had started without it; r1, 20 ms
    // late, heard r5 first and asked to join; after two amnesias only r4 and r5 held a state and no view could form.
    const r1 = freshReplica('r1', 100)
    r1.engine.onPeerMessage('r2', { kind: 'join', incarnation: 200, fresh: true, knows: { r1: 100 } })
    r1.engine.onPeerMessage('r3', { kind: 'heartbeat', view: 1, suspects: [] }) // r3 started without naming this run of r1
    r1.tick(5)
    expect(r1.engine.status).toBe('joining')
    r1.engine.onPeerMessage('r2', { kind: 'heartbeat', view: 1, suspects: [] }) // r2 started, with this run
    r1.tick(5)
    expect(r1.engine.status).toBe('normal')
    expect(r1.lines.filter((l) => l.includes('asks to join'))).toEqual([])
  })

  it('Found: a peer that confirmed this run and serves the initial view makes a fresh replica start, though it heard no majority itself', () => {
    // World simulator (5 durable replicas, links up to 1.5 s slow to connect, no fault at all, seed 13): r1 started
    // counting r2 and r4, r4 counting r1 and r3; r2 and r3, their other links still connecting, had confirmed too
    // few peers to start themselves, took r1's view change for a running cluster and asked to join it. Only r1 and r4
    // were members, fewer than a majority, and nobody was ever served.
    const five = ['r1', 'r2', 'r3', 'r4', 'r5']
    const r2 = freshReplica('r2', 200, five)
    r2.engine.onPeerMessage('r1', { kind: 'join', incarnation: 100, fresh: true, knows: { r2: 200 } }) // r1 confirmed r2
    r2.tick(5)
    expect(r2.engine.status).toBe('joining')
    r2.engine.onPeerMessage('r1', { kind: 'heartbeat', view: 1, suspects: [] }) // r1 started, with this run
    r2.tick(5)
    expect(r2.engine.status).toBe('normal')
    expect(r2.lines).toContain("replica 'r2' starts the new cluster in view 1 that 'r1' started with this run (r1 and r2 confirmed each other)")
  })

  it("Found: a view change of the initial view by a peer that confirmed this run makes a fresh replica start in the initial view, and promise in the next ballot", () => {
    const five = ['r1', 'r2', 'r3', 'r4', 'r5']
    const r2 = freshReplica('r2', 200, five)
    r2.engine.onPeerMessage('r1', { kind: 'join', incarnation: 100, fresh: true, knows: { r2: 200 } })
    r2.tick(5)
    const ballot = { round: 1, coordinator: 'r1' }
    r2.engine.onPeerMessage('r1', { kind: 'prepare', view: 2, ballot })
    r2.tick(5)
    expect(r2.engine.status).toBe('normal')
    expect(r2.lines.filter((l) => l.includes('asks to join'))).toEqual([])
    r2.engine.onPeerMessage('r1', { kind: 'prepare', view: 2, ballot: { round: 2, coordinator: 'r1' } })
    const promise = r2.sent.find((s) => s.to === 'r1' && s.message.kind === 'promise')?.message as Extract<PeerMessage, { kind: 'promise' }> | undefined
    expect(promise?.holding.kind).toBe('live')
  })

  it('a view change of the initial view by a peer that never confirmed this run still makes a fresh replica join', () => {
    const five = ['r1', 'r2', 'r3', 'r4', 'r5']
    const r2 = freshReplica('r2', 200, five)
    r2.engine.onPeerMessage('r1', { kind: 'join', incarnation: 100, fresh: true }) // r1 heard, but never named this run
    r2.engine.onPeerMessage('r1', { kind: 'prepare', view: 2, ballot: { round: 1, coordinator: 'r1' } })
    r2.tick(100)
    expect(r2.engine.status).toBe('joining')
    expect(r2.lines).toContain("replica 'r2' started without state and hears from a running cluster ('prepare'); it asks to join it")
  })

  it('a replica that started the initial view without state names, on its heartbeats of that view, the fresh peers it had heard', () => {
    const r1 = freshReplica('r1', 100)
    r1.engine.onPeerMessage('r3', { kind: 'join', incarnation: 300, fresh: true })
    r1.engine.onPeerMessage('r2', { kind: 'join', incarnation: 200, fresh: true, knows: { r1: 100 } })
    r1.tick(40) // past the grace: r1 and r2 start
    expect(r1.engine.status).toBe('normal')
    const heartbeats = r1.sent.filter((s) => s.message.kind === 'heartbeat').map((s) => s.message)
    expect(heartbeats.length).toBeGreaterThan(0)
    for (const heartbeat of heartbeats) expect(heartbeat).toEqual({ kind: 'heartbeat', view: 1, suspects: expect.any(Array), started: { r2: 200, r3: 300 } })
  })

  it('once the initial view delivered a request, its heartbeats name nobody (a member fresh again restarted)', () => {
    const replicas = { r1: freshReplica('r1', 100), r2: freshReplica('r2', 200), r3: freshReplica('r3', 300) }
    const handed: Record<string, number> = { r1: 0, r2: 0, r3: 0 }
    const settle = () => {
      for (let rounds = 0, moved = 1; moved > 0 && rounds < 50; rounds++) {
        moved = 0
        for (const [from, replica] of Object.entries(replicas)) {
          for (; handed[from]! < replica.sent.length; handed[from]!++) {
            const { to, message } = replica.sent[handed[from]!]!
            replicas[to as keyof typeof replicas].engine.onPeerMessage(from, message)
            moved++
          }
        }
      }
    }
    const tickAll = (ms: number) => {
      for (const r of Object.values(replicas)) r.tick(ms)
      settle()
    }
    tickAll(5)
    tickAll(5)
    expect(Object.values(replicas).map((r) => r.engine.status)).toEqual(['normal', 'normal', 'normal'])
    tickAll(10)
    const namesBefore = replicas.r1.sent.filter((s) => s.message.kind === 'heartbeat').map((s) => (s.message as Extract<PeerMessage, { kind: 'heartbeat' }>).started)
    expect(namesBefore.at(-1)).toEqual({ r2: 200, r3: 300 })
    replicas.r1.engine.onClientMessage('c1', { type: 'request', request: { client: 'c1', seq: 1, command: { name: 'put', args: { key: 'k', value: 'v' } } } })
    for (let i = 0; i < 10; i++) tickAll(5)
    expect(replicas.r1.engine.position).toBeGreaterThan(0)
    const sentBefore = replicas.r1.sent.length
    tickAll(20)
    const after = replicas.r1.sent.slice(sentBefore).filter((s) => s.message.kind === 'heartbeat')
    expect(after.length).toBeGreaterThan(0)
    for (const { message } of after) expect(message).not.toHaveProperty('started')
  })

  it('Found: a heartbeat of the initial view naming this run makes a fresh replica start, though its sender never confirmed it (the seven replicas whose links were slow to connect)', () => {
    // World simulator (leased-mutex spec, 7 replicas, links of 8 messages up to 1.5 s slow to connect, seed 12004351):
    // r6 started view 1 counting r2, r3 and r7, and began a view change at once (its links to r1 and r5 were full).
    // Its own fresh joins naming r2 and r3 were still on their way: they took its view change, or a peer's plain
    // join, for a running cluster and asked to join it. r6 and r7 alone held view 1, and nobody was ever served.
    const seven = ['r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7']
    const r2 = freshReplica('r2', 200, seven)
    r2.engine.onPeerMessage('r6', { kind: 'prepare', view: 2, ballot: { round: 1, coordinator: 'r6' } })
    r2.engine.onPeerMessage('r4', { kind: 'join', incarnation: 400, fresh: false }) // r4 gave up starting
    r2.tick(10)
    expect(r2.engine.status).toBe('joining')
    r2.engine.onPeerMessage('r6', { kind: 'heartbeat', view: 1, suspects: [], started: { r2: 200, r3: 300, r7: 700 } })
    r2.tick(5)
    expect(r2.engine.status).toBe('normal')
    expect(r2.lines).toContain("replica 'r2' starts the new cluster in view 1 that 'r6' started with this run ('r6' named this run)")
    expect(r2.lines.filter((l) => l.includes('asks to join'))).toEqual([])
  })

  it('a heartbeat of the initial view naming an earlier run of this replica, or another replica, does not make it start', () => {
    for (const started of [{ r2: 199 }, { r3: 300 }] as Record<string, number>[]) {
      const r2 = freshReplica('r2', 200)
      r2.engine.onPeerMessage('r1', { kind: 'heartbeat', view: 1, suspects: [], started })
      r2.tick(100)
      expect(r2.engine.status, JSON.stringify(started)).toBe('joining')
      expect(r2.lines).toContain("replica 'r2' started without state and hears 'r1' serve in view 1, which 'r1' started without this run; it asks to join it")
    }
  })

  it('a plain join (a peer that gave up starting) makes a fresh replica join only after the grace, and without counting its own majority meanwhile', () => {
    const r1 = freshReplica('r1', 100)
    r1.engine.onPeerMessage('r2', { kind: 'join', incarnation: 200, fresh: true, knows: { r1: 100 } }) // a majority with r2
    r1.engine.onPeerMessage('r3', { kind: 'join', incarnation: 300, fresh: false })
    r1.tick(25)
    expect(r1.engine.status).toBe('joining')
    expect(r1.lines.filter((l) => l.includes('asks to join'))).toEqual([])
    r1.tick(10)
    expect(r1.engine.status).toBe('joining')
    expect(r1.lines).toContain("replica 'r1' started without state and hears from a running cluster ('join'); it asks to join it")
    expect(r1.lines.filter((l) => l.includes('starts a new cluster'))).toEqual([])
  })

  it('Found: a peer heard fresh in this run that recovers the initial view at position 0 from its disk is brought back, not joined', () => {
    // World simulator (real time, tight timing bounds, durable, seed 142): r3 started the cluster and crashed 0.3 ms
    // later, before r1 and r2 had its confirmation. Back from its disk it asked to be brought back; r1 and r2 took
    // that for a running cluster and asked to join it, and r3 alone held a state: no view could ever form.
    const r1 = freshReplica('r1', 100)
    r1.engine.onPeerMessage('r3', { kind: 'join', incarnation: 300, fresh: true }) // r3, fresh, in this run
    r1.engine.onPeerMessage('r2', { kind: 'join', incarnation: 200, fresh: true, knows: { r1: 100 } }) // r2 confirmed r1
    r1.engine.onPeerMessage('r3', { kind: 'recover', view: { id: 1, members: ['r1', 'r2', 'r3'] }, position: 0, incarnation: 301 })
    r1.tick(100) // past the grace: r1 and r2, a majority, start the initial view; r3 comes back by a view change
    expect(r1.engine.status).toBe('normal')
    expect(r1.lines.filter((l) => l.includes('hears from a running cluster'))).toEqual([])
  })

  it('a recovery that shows a cluster ran (a later view, a position past 0, or a peer not heard fresh in this run) makes a fresh replica join', () => {
    const cases: { why: string; from: string; view: number; position: number }[] = [
      { why: 'a later view', from: 'r3', view: 2, position: 0 },
      { why: 'a position past 0', from: 'r3', view: 1, position: 4 },
      { why: 'a peer not heard fresh in this run', from: 'r2', view: 1, position: 0 },
    ]
    for (const { why, from, view, position } of cases) {
      const r1 = freshReplica('r1', 100)
      r1.engine.onPeerMessage('r3', { kind: 'join', incarnation: 300, fresh: true, knows: { r1: 100 } })
      r1.engine.onPeerMessage(from, { kind: 'recover', view: { id: view, members: ['r1', 'r2', 'r3'] }, position, incarnation: 999 })
      r1.tick(100)
      expect(r1.engine.status, why).toBe('joining')
      expect(r1.lines, why).toContain("replica 'r1' started without state and hears from a running cluster ('recover'); it asks to join it")
    }
  })
})
