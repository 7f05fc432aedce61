import { describe, expect, it } from 'vitest'
import { lamport } from '@lockstep/order-lamport'
import { kv } from '@lockstep/machines'
import { ReplicaEngine, newIncarnation } from '../src/index'
import type { PeerMessage } from '../src/engine/peer-messages'

// World seeds 31 (Lamport) and 109 (real-time) with the `skew` fault: a replica's clock was set back and held
// still while it restarted without state, twice, so both runs got the same incarnation (a start time). The
// others took the second run's joins for late messages of the first, which they had admitted already, kept it
// as a plain member, and waited for its acknowledgements for ever; it could not install their views (they name
// no run of it), and kept talking, so nobody suspected it.
describe('an amnesiac restart with the incarnation of the run the cluster admitted before (clock held still)', () => {
  const members = ['r1', 'r2', 'r3', 'r4', 'r5']
  // Suspicion after 100 ms of silence: a run that asks to join every 30 ms is never suspected.
  const membership = { heartbeatMs: 10, suspectAfterMs: 100, viewChangeTimeoutMs: 60 }

  function cluster() {
    let now = 0
    const engines = new Map<string, ReplicaEngine<unknown>>()
    const queue: { from: string; to: string; message: PeerMessage }[] = []
    const replies: { to: string; seq: number }[] = []
    // The random part of each run's incarnation, as ReplicaHost draws it (seeded here, so the test repeats).
    let state = 7
    const random = { next: () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32) }
    /** Starts a run of `self` whose clock reads `offset` ms off the others' (its start time and a nonce make its incarnation). */
    const start = (self: string, startAs: 'member' | 'fresh', offset = 0) => {
      const engine: ReplicaEngine<unknown> = new ReplicaEngine({
        self,
        incarnation: newIncarnation(now + offset, random),
        machine: kv,
        orderer: lamport({ heartbeatMs: 10 }),
        clock: { now: () => now + offset },
        view: { id: 1, members },
        replicas: members,
        membership,
        startAs,
        log: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} },
        effects: {
          sendToPeer: (to, message) => queue.push({ from: self, to, message }),
          sendToClient: (to, message) => {
            if (engines.get(self) === engine && message.type === 'reply') replies.push({ to, seq: message.reply.seq })
          },
        },
      })
      engines.set(self, engine)
    }
    const drain = () => {
      for (let i = 0; queue.length > 0 && i < 100_000; i++) {
        const { from, to, message } = queue.shift()!
        const engine = engines.get(to)
        if (!engine || !engines.has(from)) continue
        engine.onPeerMessage(from, message)
        engine.flush()
      }
    }
    const run = (ms: number) => {
      for (let t = 0; t < ms; t += 5) {
        now += 5
        for (const engine of engines.values()) {
          engine.tick()
          engine.flush()
        }
        drain()
      }
    }
    const crash = (self: string) => {
      engines.delete(self)
      for (let i = queue.length - 1; i >= 0; i--) if (queue[i]!.from === self || queue[i]!.to === self) queue.splice(i, 1)
    }
    const status = (self: string) => {
      const engine = engines.get(self)!
      return `${engine.status} in view ${engine.view.id}`
    }
    const submit = (at: string, seq: number) => {
      engines.get(at)!.onClientMessage('c1', { type: 'request', request: { client: 'c1', seq, command: { name: 'put', args: { key: 'k', value: String(seq) } } } })
      engines.get(at)!.flush()
    }
    return { replies, run, crash, start, status, submit, now: () => now }
  }

  /**
   * r3 loses its state; the others remove it (view 2), then add its next run back (view 3). Returns that run's
   * start time, the clock reading its incarnation was made from.
   */
  function readmitR3(c: ReturnType<typeof cluster>): number {
    c.crash('r3')
    c.run(200)
    expect(c.status('r1')).toBe('normal in view 2')
    const admitted = c.now()
    c.start('r3', 'fresh')
    c.run(300)
    expect(c.status('r3')).toBe('normal in view 3')
    return admitted
  }

  it.each([
    { incarnation: 'the same incarnation (its clock held still across the restart)', behind: 0 },
    { incarnation: 'an older incarnation (its clock set back across the restart)', behind: 500 },
  ])('is added back as a joiner with $incarnation, and the cluster answers again', ({ behind }) => {
    const c = cluster()
    for (const r of members) c.start(r, 'member')
    c.run(50)
    c.submit('r1', 1)
    c.run(50)
    expect(c.replies.map((r) => r.seq)).toContain(1)
    const admitted = readmitR3(c)
    // r2 fails for good: the newest view names r3 as a plain member.
    c.crash('r2')
    c.run(300)
    const live = ['r1', 'r3', 'r4', 'r5']
    expect(live.map((r) => c.status(r))).toEqual(live.map(() => 'normal in view 4'))
    // r3 restarts without state again, so fast that the others do not suspect it, its clock reading the admitted
    // run's start time again (or an earlier time): its joins look like late messages of the run view 3 admitted,
    // and view 4 names it as a member, not as a joiner, so it cannot install it. Two of five replicas are faulty.
    c.crash('r3')
    c.start('r3', 'fresh', admitted - c.now() - behind)
    c.submit('r1', 2)
    c.run(1000)
    expect(c.replies.map((r) => r.seq)).toContain(2)
    expect(live.map((r) => c.status(r))).toEqual(live.map(() => 'normal in view 5'))
  })

  // The same world without r2's failure: the view that admitted r3's earlier run is still the newest when the
  // next run starts with the same incarnation. That run must not take the earlier run's admission over: the
  // cluster counts on what the earlier run acknowledged, and the new run holds none of it.
  it('does not take over the admission of the earlier run with the same incarnation', () => {
    const c = cluster()
    for (const r of members) c.start(r, 'member')
    c.run(50)
    const admitted = readmitR3(c)
    c.crash('r3')
    c.start('r3', 'fresh', admitted - c.now())
    const views: string[] = []
    for (let i = 0; i < 100; i++) {
      c.run(10)
      views.push(c.status('r3'))
    }
    expect(views).not.toContain('normal in view 3')
    c.submit('r1', 1)
    c.run(500)
    expect(c.replies.map((r) => r.seq)).toContain(1)
    expect(c.status('r3')).toMatch(/^normal in view ([4-9]|\d\d)$/)
  })
})
