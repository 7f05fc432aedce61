import { describe, expect, it } from 'vitest'
import { cluster, req } from './harness'

// Δ = 2 * 10 + 0 = 20 ms in these tests.
const timing = { maxDelayMs: 10, maxSkewMs: 0, heartbeatMs: 5 }

/**
 * A clock fault: r1's clock is 30 ms behind (the bound is 0). r2 stamps b#1 at 1000 ms; every member holds
 * it, and r3 delivers it by Test I at 1020 ms (r1's clock-based floor lags). r1 then stamps a#1 with its
 * clock, 990 ms: below b#1, which r3 already delivered.
 */
function lateRequest() {
  const c = cluster(['r1', 'r2', 'r3'], { ...timing, clockOffsetMs: { r1: -30 } })
  c.stampAndAcknowledge('r2', req('b', 1), 'r1') // r1 acknowledges b#1 with floor 970_000 µs
  c.advance(20)
  c.get('r3').tick()
  expect(c.keys('r3')).toEqual(['b#1'])
  expect(c.get('r3').stats()).toMatchObject({ deliveredByTestI: 1 })
  c.get('r1').submit(req('a', 1)) // stamp 990_000 µs
  c.get('r1').flush()
  return c
}

describe('a member known to be off, a clock that goes back', () => {
  it('Found: a replica that knows a member\'s clock is off does not deliver by Test I, so the member\'s request stamped below is not late', () => {
    // lateRequest's story, but r3's probes already put r1's clock 30 ms behind (beyond the bound). World simulator,
    // tight bounds (Δ 55 ms), a skew fault slowing r2's clock until it was 106 ms behind: r1 and r3 saw it, still
    // delivered by Test I and answered, r2's next request came stamped below, and r1 and r3 stopped and took r2's
    // state: a history that is not linearizable.
    const c = cluster(['r1', 'r2', 'r3'], { ...timing, clockOffsetMs: { r1: -30 } })
    ;(c.get('r3') as unknown as { clockOffsets: Map<string, unknown> }).clockOffsets.set('r1', { offsetMs: -30, roundTripMs: 1, atMs: c.now() })
    c.stampAndAcknowledge('r2', req('b', 1), 'r1')
    c.advance(20)
    c.get('r3').tick()
    expect(c.keys('r3')).toEqual([]) // past b#1's stamp + Δ, but r1's clock is off: Test II only
    c.get('r1').submit(req('a', 1)) // stamped 990_000 µs, below b#1
    c.get('r1').flush()
    c.deliverAll('r1', 'r3')
    expect(c.get('r3').stats()).toMatchObject({ timingViolations: 0, stopped: false })
    c.settle()
    c.advance(30) // r1's clock passes b#1's stamp: its floor does, Test II holds everywhere
    c.tickAll()
    c.settle()
    for (const id of ['r1', 'r2', 'r3']) expect(c.keys(id)).toEqual(['a#1', 'b#1'])
  })

  it('a clock that goes back by more than the bound stops its replica before it stamps anything by it', () => {
    const offsets: Record<string, number> = {}
    const c = cluster(['r1', 'r2', 'r3'], { ...timing, maxSkewMs: 5, clockOffsetMs: offsets })
    c.get('r1').tick()
    offsets.r1 = -50 // a step of the system clock, 50 ms back
    c.get('r1').submit(req('a', 1))
    expect(c.get('r1').stats()).toMatchObject({ skewViolations: 1, stopped: true })
    expect(c.diverged.get('r1')![0]).toMatch(/finds its clock went back by 50\.000 ms, beyond maxSkewMs 5/)
    c.get('r1').flush()
    const sent = [...c.links.entries()].filter(([key]) => key.startsWith('r1>')).flatMap(([, messages]) => messages)
    expect(sent.some((m) => (m.message as { r?: unknown[] }).r !== undefined)).toBe(false)
    // Within the bound, a clock that goes back a little is not a fault.
    const d = cluster(['r1', 'r2', 'r3'], { ...timing, maxSkewMs: 5, clockOffsetMs: offsets })
    offsets.r1 = 0
    d.get('r1').tick()
    offsets.r1 = -4
    d.get('r1').submit(req('a', 1))
    expect(d.get('r1').stats()).toMatchObject({ skewViolations: 0, stopped: false })
  })
})

describe('timing faults are detected and contained', () => {
  it('a request arriving at or below the last delivered stamp stops delivery, is logged at error level, counted, and reported through diverged', () => {
    const c = lateRequest()
    c.deliverAll('r1', 'r3') // a#1, stamped below b#1, arrives after b#1's delivery
    expect(c.diverged.get('r3')).toHaveLength(1)
    expect(c.diverged.get('r3')![0]).toMatch(/received request a#1 \(from 'r1', stamp 990000 µs\) from 'r1' at or below the stamp of the last request it delivered \(1000000 µs from 'r2'\)/)
    expect(c.errors.get('r3')).toEqual([c.diverged.get('r3')![0]])
    expect(c.get('r3').stats()).toMatchObject({ timingViolations: 1, stopped: true })
    // Nothing is delivered out of order, and nothing more at all.
    c.get('r2').submit(req('b', 2))
    c.settle()
    c.advance(100)
    c.tickAll()
    c.settle()
    expect(c.keys('r3')).toEqual(['b#1'])
    expect(c.get('r3').pendingCount()).toBeGreaterThan(0)
  })

  it('without a diverged callback the orderer just stays stopped', () => {
    const c = lateRequest()
    ;(c.get('r3') as unknown as { ctx: { diverged?: unknown } }).ctx.diverged = undefined
    c.deliverAll('r1', 'r3')
    c.advance(100)
    c.tickAll()
    expect(c.keys('r3')).toEqual(['b#1'])
    expect(c.get('r3').stats().stopped).toBe(true)
  })

  it('a stopped replica cannot end the view by itself: it asks for state transfer; a fresh start (viewChanged) resumes', () => {
    const c = lateRequest()
    c.deliverAll('r1', 'r3')
    // A boundary that would suit r3 (r2's report: b#1, which r3 delivered; not the late a#1): r3 still refuses.
    const boundary = c.get('r3').mergeReports([c.get('r2').freeze()])
    c.get('r3').freeze()
    expect(c.get('r3').install({ id: 2, members: ['r2', 'r3'] }, boundary)).toBe(false)
    c.get('r3').viewChanged({ id: 2, members: ['r3'] })
    expect(c.get('r3').stats().stopped).toBe(false)
    c.get('r3').submit(req('z', 1))
    expect(c.keys('r3')).toEqual(['b#1', 'z#1'])
  })

  it('a request whose predecessor from the same origin is missing waits for it, even past Δ, so both are delivered in order', () => {
    const c = cluster(['r1', 'r2', 'r3'], timing)
    c.get('r1').submit(req('a', 1))
    c.get('r1').submit(req('a', 2))
    c.get('r1').flush() // held on r1→r3
    // r2 relays a#2 only (a#1 reached r3 by another way in this story, or is still on its way).
    c.get('r3').receive('r2', { t: 'realtime', c: 1_000_001, a: { r1: 2, r2: 0, r3: 0 }, r: [[1_000_001, 'r1', 2, req('a', 2)]] })
    c.advance(25)
    c.get('r3').tick()
    expect(c.keys('r3')).toEqual([])
    c.deliverAll('r1', 'r3')
    c.get('r3').tick()
    expect(c.keys('r3')).toEqual(['a#1', 'a#2'])
    expect(c.get('r3').stats()).toMatchObject({ timingViolations: 0, stopped: false })
    // r3 now acknowledges both (a#2 was held before a#1 arrived): the others deliver them too.
    c.get('r3').flush()
    const toR1 = c.links.get('r3>r1')!
    expect((toR1.at(-1)!.message as { a: Record<string, number> }).a.r1).toBe(2)
    c.settle()
    expect(c.keys('r1')).toEqual(['a#1', 'a#2'])
    expect(c.keys('r2')).toEqual(['a#1', 'a#2'])
  })

  it('requests that arrive within their deadline never count as timing faults', () => {
    const c = cluster(['r1', 'r2', 'r3'], timing)
    for (let i = 1; i <= 30; i++) {
      c.get(`r${1 + (i % 3)}`).submit(req('c', i))
      c.advance(3)
      c.tickAll()
      c.settle()
    }
    for (const id of ['r1', 'r2', 'r3']) {
      expect(c.keys(id)).toHaveLength(30)
      expect(c.get(id).stats()).toMatchObject({ timingViolations: 0, skewViolations: 0, stopped: false })
    }
    expect(c.keys('r2')).toEqual(c.keys('r1'))
    expect(c.keys('r3')).toEqual(c.keys('r1'))
  })
})

describe('clock offsets (Cristian probes)', () => {
  /** r1 probes r2: one hop of 1 ms each way. */
  function probe(clockOffsetMs: Record<string, number>, maxSkewMs: number) {
    const c = cluster(['r1', 'r2'], { ...timing, maxSkewMs, clockOffsetMs })
    c.get('r1').tick() // the first heartbeat carries a probe
    c.advance(1)
    c.deliverAll('r1', 'r2')
    c.get('r2').flush() // the answer: the probe's reading and r2's clock
    c.advance(1)
    c.deliverAll('r2', 'r1')
    return c
  }

  it('estimates each peer\'s offset and round trip', () => {
    const c = probe({ r2: 3 }, 5)
    expect(c.get('r1').offsets()).toEqual({ r2: { offsetMs: 3, roundTripMs: 2, atMs: 1002 } })
    expect(c.get('r1').stats()).toMatchObject({ skewViolations: 0, stopped: false })
    expect(c.diverged.get('r1')).toEqual([])
  })

  it('probes again every four heartbeats', () => {
    const c = cluster(['r1', 'r2'], timing)
    const probes = () => c.links.get('r1>r2')!.filter((m) => (m.message as { p?: number }).p !== undefined).length
    for (let i = 0; i < 9; i++) {
      c.get('r1').tick()
      c.advance(5)
    }
    expect(probes()).toBe(3)
  })

  it('an offset beyond maxSkewMs plus half the round trip, with two members, is nobody\'s to blame: each delivers by Test II only and keeps its state', () => {
    const c = probe({ r2: 7 }, 5) // 7 > 5 + 2 / 2
    expect(c.get('r1').offsets().r2).toEqual({ offsetMs: 7, roundTripMs: 2, atMs: 1002 })
    // Neither can tell whose clock it is, and neither has a majority of the configuration on its side: before, both
    // stopped and dropped their states (in a view of two members of three, the correct one with the skewed one).
    expect(c.get('r1').stats()).toMatchObject({ skewViolations: 0, skewUnattributed: 1, timingViolations: 0, stopped: false, clockChecked: false })
    expect(c.diverged.get('r1')).toEqual([])
    // Test II still delivers: it rests on the members' floors, not on any clock.
    c.get('r1').submit(req('a', 1))
    c.get('r1').flush()
    c.advance(30)
    c.tickAll()
    c.settle()
    expect(c.keys('r1')).toEqual(['a#1'])
    expect(c.keys('r2')).toEqual(['a#1'])
    expect(c.get('r1').stats()).toMatchObject({ deliveredByTestI: 0, deliveredByTestII: 1 })
  })

  it('counts the configuration, not the view: two members of a configuration of three cannot outvote each other', () => {
    // r2 is a majority of the view {r1, r2} but not of the configuration: r1 does not blame itself (see the test
    // with three members for the one that does).
    const c = cluster(['r1', 'r2'], { ...timing, maxSkewMs: 5, clockOffsetMs: { r2: 7 }, configurationSize: 3 })
    c.get('r1').tick()
    c.advance(1)
    c.deliverAll('r1', 'r2')
    c.get('r2').flush()
    c.advance(1)
    c.deliverAll('r2', 'r1')
    expect(c.get('r1').stats()).toMatchObject({ skewViolations: 0, skewUnattributed: 1, stopped: false })
  })

  /** View r1..r5, configuration r1..r3 (r4, r5 spares), clocks off by `clockOffsetMs`: r1 probes every peer, and hears each answer in turn. */
  function probedWithSpares(clockOffsetMs: Record<string, number>) {
    const ids = ['r1', 'r2', 'r3', 'r4', 'r5']
    const c = cluster(ids, { ...timing, maxSkewMs: 5, clockOffsetMs, configurationSize: 3, configuration: ['r1', 'r2', 'r3'] })
    c.get('r1').tick() // the first heartbeat carries a probe
    c.advance(1)
    for (const to of ids.slice(1)) c.deliverAll('r1', to)
    for (const id of ids.slice(1)) c.get(id).flush() // the answers
    c.advance(1)
    for (const from of ids.slice(1)) c.deliverAll(from, 'r1')
    return c
  }

  it('counts configured replicas, not spares: a skewed member of the configuration and two skewed spares do not make a correct replica blame itself', () => {
    // View r1..r5, configuration r1..r3 (r4 and r5 are spares: members of the view outside the configuration, that no
    // majority counts). r2's clock is off (F = 1 of the configuration), and so are the spares'. Of the configured
    // members r1 agrees with r3, a majority: r2 is the one off. Counting the spares (three off of a configuration of
    // three, and r1 with r3 no majority of the view), r1 blamed its own clock and stopped.
    const c = probedWithSpares({ r2: 40, r4: 40, r5: 40 })
    expect(Object.keys(c.get('r1').offsets()).sort()).toEqual(['r2', 'r3', 'r4', 'r5'])
    expect(c.get('r1').stats()).toMatchObject({ skewViolations: 0, skewUnattributed: 0, peerSkewSeen: 3, stopped: false })
    expect(c.diverged.get('r1')).toEqual([])
  })

  it('spares do not vouch for a clock: a member off from the configured majority stops, though two spares agree with it', () => {
    // View r1..r5, configuration r1..r3: r1's clock is off from r2's and r3's, and the spares r4 and r5 share r1's.
    // Counting the spares, r1 found a majority of the view on its side and went on delivering by its clock.
    const c = probedWithSpares({ r2: 40, r3: 40 })
    // r2's answer came first: with r3 not heard yet, r1 could not tell whose clock was off.
    expect(c.get('r1').stats()).toMatchObject({ skewViolations: 1, peerSkewSeen: 1, stopped: true })
    expect(c.diverged.get('r1')![0]).toMatch(/'r1' finds its clock off from 'r2' \(40\.000 ms\), 'r3' \(40\.000 ms\), a majority of the view/)
  })

  it('with three members, only the replica whose clock is off from a majority stops; the others count it and go on', () => {
    const c = cluster(['r1', 'r2', 'r3'], { ...timing, maxSkewMs: 5, clockOffsetMs: { r3: 40 } })
    const ids = ['r1', 'r2', 'r3']
    const exchange = () => {
      for (const id of ids) c.get(id).tick() // the first heartbeats carry probes
      c.advance(1)
      for (const from of ids) for (const to of ids) if (from !== to) c.deliverAll(from, to)
      for (const id of ids) c.get(id).flush() // the answers
      c.advance(1)
      for (const from of ids) for (const to of ids) if (from !== to) c.deliverAll(from, to)
    }
    exchange()
    expect(c.get('r3').stats()).toMatchObject({ skewViolations: 1, stopped: true })
    expect(c.diverged.get('r3')![0]).toMatch(/'r3' finds its clock off from 'r1' \(-40\.000 ms\), 'r2' \(-40\.000 ms\), a majority of the view/)
    for (const id of ['r1', 'r2']) {
      expect(c.get(id).stats()).toMatchObject({ skewViolations: 0, peerSkewSeen: 1, stopped: false })
      expect(c.diverged.get(id)).toEqual([])
    }
  })

  it('a replica does not blame its clock on estimates of peers that stopped answering long ago', () => {
    // r2 and r3 were skewed when r1 last heard their clocks; since then they were set right, and r1 was out of
    // touch with them (it rejoined, say). Now r4 is skewed: r1 hears only r4. Counting its stale estimates of r2
    // and r3, r1 would find its own clock off from a majority and stop (seeds 244 and 627 of the skew world: every
    // replica stopped that way, one after another). Only estimates from the last three probe intervals count.
    const offsets: Record<string, number> = { r2: 40, r3: 40 }
    const ids = ['r1', 'r2', 'r3', 'r4', 'r5']
    const c = cluster(ids, { ...timing, maxSkewMs: 5, clockOffsetMs: offsets })
    const exchange = (peers: string[]) => {
      c.get('r1').tick()
      c.advance(1)
      for (const peer of peers) c.deliverAll('r1', peer)
      for (const peer of peers) c.get(peer).flush()
      c.advance(1)
      for (const peer of peers) c.deliverAll(peer, 'r1')
    }
    exchange(['r2', 'r3', 'r4', 'r5'])
    expect(c.get('r1').stats()).toMatchObject({ skewViolations: 0, peerSkewSeen: 2, stopped: false })
    offsets.r2 = 0
    offsets.r3 = 0
    c.advance(1000)
    offsets.r4 = 40
    exchange(['r4'])
    expect(c.get('r1').stats()).toMatchObject({ skewViolations: 0, peerSkewSeen: 3, stopped: false })
    expect(c.diverged.get('r1')).toEqual([])
    // Fresh estimates still count: heard again within the window, r2 and r3 off with r4 make r1 the one off.
    offsets.r2 = 40
    offsets.r3 = 40
    // (The first exchange also hands over the probes queued for them while r1 was out of touch: answered late,
    // their round trips are long, and so is the margin they allow.)
    for (let i = 0; i < 2; i++) {
      c.advance(4 * timing.heartbeatMs)
      exchange(['r2', 'r3', 'r4'])
    }
    expect(c.get('r1').stats()).toMatchObject({ stopped: true })
    expect(c.diverged.get('r1')![0]).toMatch(/'r1' finds its clock off from 'r2' \(40\.000 ms\), 'r3' \(40\.000 ms\), 'r4' \(40\.000 ms\), a majority of the view/)
  })

  it('an offset within the bound plus half the round trip is not', () => {
    const c = probe({ r2: -6 }, 5) // |−6| ≤ 5 + 1
    expect(c.get('r1').stats()).toMatchObject({ skewViolations: 0, stopped: false })
  })
})

// Found (simulator, skew world seed 244): a replica that stopped because its clock was off rejoined while its clock
// was still off, and delivered by Test I, on its clock alone, before its first probe of the new start told it.
describe('Test I waits until probes put this replica\'s clock within the bound of a majority\'s', () => {
  /** r1 stamps a#1; every member holds it; r2's clock-based floor lags (5 ms behind, within the bound of 5). */
  function heldByAll(offsets: Record<string, number>) {
    const c = cluster(['r1', 'r2', 'r3'], { maxDelayMs: 10, maxSkewMs: 5, heartbeatMs: 5, clocksChecked: false, clockOffsetMs: { r2: -5, ...offsets } })
    c.get('r1').submit(req('a', 1))
    c.settle()
    expect(c.keys('r3')).toEqual([])
    return c
  }

  it('a replica whose clock is far ahead delivers nothing by it before its probes are answered, and then finds its clock off and stops', () => {
    const c = heldByAll({ r3: 1000 }) // r3's clock passed a#1's stamp + Δ long ago
    expect(c.get('r3').stats()).toMatchObject({ clockChecked: false })
    c.get('r3').tick() // Test I would deliver a#1 here; the tick also probes r1 and r2
    expect(c.keys('r3')).toEqual([])
    c.deliverAll('r3', 'r1')
    c.deliverAll('r3', 'r2')
    c.get('r1').flush()
    c.get('r2').flush()
    c.deliverAll('r1', 'r3')
    c.deliverAll('r2', 'r3')
    expect(c.get('r3').stats()).toMatchObject({ skewViolations: 1, stopped: true, clockChecked: false, deliveredByTestI: 0 })
    expect(c.keys('r3')).toEqual([])
  })

  it('once a majority\'s answers put its clock within the bound, it delivers by Test I', () => {
    const c = heldByAll({})
    c.advance(25)
    c.get('r3').tick() // stamp + Δ on r3's clock; r2's floor still lags; the tick probes r1 and r2
    expect(c.keys('r3')).toEqual([])
    c.deliverAll('r3', 'r1')
    c.get('r1').flush()
    c.deliverAll('r1', 'r3') // r1's answer: r3 and r1 make a majority of three
    expect(c.get('r3').stats()).toMatchObject({ clockChecked: true })
    c.get('r3').tick()
    expect(c.keys('r3')).toEqual(['a#1'])
    expect(c.get('r3').stats()).toMatchObject({ deliveredByTestI: 1 })
  })

  it('a replica restarted after a timing fault checks its clock again; answers from before the fault do not count', () => {
    const c = lateRequest()
    c.deliverAll('r1', 'r3')
    expect(c.get('r3').stats()).toMatchObject({ stopped: true })
    // r3's probe of its tick at 1020 ms is answered by r2, whose clock agrees: before the restart.
    c.deliverAll('r3', 'r2')
    c.get('r2').flush()
    c.deliverAll('r2', 'r3')
    expect(c.get('r3').offsets().r2).toMatchObject({ offsetMs: 0, atMs: 1020 })
    c.advance(1)
    c.get('r3').viewChanged({ id: 2, members: ['r1', 'r2', 'r3'] })
    expect(c.get('r3').stats()).toMatchObject({ stopped: false, clockChecked: false })
    // A new answer of r2's does.
    c.advance(20)
    c.get('r3').tick()
    c.deliverAll('r3', 'r2')
    c.get('r2').flush()
    c.deliverAll('r2', 'r3')
    expect(c.get('r3').stats()).toMatchObject({ clockChecked: true })
  })

  it('a replica alone in its view needs no probe', () => {
    const c = cluster(['r1'], { maxDelayMs: 10, maxSkewMs: 5, heartbeatMs: 5, clocksChecked: false })
    expect(c.get('r1').stats()).toMatchObject({ clockChecked: true })
  })
})

describe('a replica that stalled (a long GC pause, SIGSTOP)', () => {
  // Δ = 2 * 10 + 5 = 25 ms; r2's clock is 5 ms behind, within the bound.
  const skewed = { maxDelayMs: 10, maxSkewMs: 5, heartbeatMs: 5, clockOffsetMs: { r2: -5 } }

  it('does not deliver by Test I before it read the messages that waited for it: a request stamped lower waited unread', () => {
    // Found (world simulator, seed 368 of real time, skew, drift, replace, delay and pause, durable): r1, woken after a
    // 2.5 s pause, delivered by its clock before it read what had waited for it, out of the others' order.
    const c = cluster(['r1', 'r2', 'r3'], skewed)
    c.stampAndAcknowledge('r3', req('b', 1), 'r2') // stamp 1_000_000 µs; r2 acknowledges it to r1
    c.get('r1').flush()
    c.deliverAll('r1', 'r2')
    c.deliverAll('r1', 'r3')
    c.advance(1)
    // r2's clock (996 ms) is behind r3's: it stamps a#1 below b#1, after it acknowledged b#1.
    c.get('r2').submit(req('a', 1))
    c.get('r2').flush()
    c.deliverAll('r2', 'r3')
    c.get('r3').flush()
    // r1 stalls for 30 ms (more than Δ): r2's and r3's messages wait unread.
    c.stall(30)
    c.get('r1').tick() // the clock passed b#1's stamp + Δ, but r1 has not read what waited
    expect(c.keys('r1')).toEqual([])
    c.deliverAll('r2', 'r1')
    c.deliverAll('r3', 'r1')
    c.advance(10)
    c.get('r1').tick()
    expect(c.keys('r1')).toEqual(['a#1', 'b#1'])
    expect(c.get('r1').stats()).toMatchObject({ timingViolations: 0, stopped: false })
    expect(c.diverged.get('r1')).toEqual([])
  })

  it('a replica that reads its clock every heartbeat delivers by Test I as soon as the clock passes stamp + Δ', () => {
    const c = cluster(['r1', 'r2', 'r3'], skewed)
    c.stampAndAcknowledge('r3', req('b', 1), 'r2')
    c.advance(24.999)
    c.get('r1').tick()
    expect(c.keys('r1')).toEqual([])
    c.advance(0.001)
    c.get('r1').tick()
    expect(c.keys('r1')).toEqual(['b#1'])
  })
})
