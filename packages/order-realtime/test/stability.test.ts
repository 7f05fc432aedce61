import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { cluster, req } from './harness'

// Δ = 2 * 10 + 0 = 20 ms in these tests.
const timing = { maxDelayMs: 10, maxSkewMs: 0, heartbeatMs: 5 }

// Δ = 2 * 10 + 5 = 25 ms with a skew bound of 5 ms.
const skewed = { ...timing, maxSkewMs: 5 }

/**
 * r1 stamps a#1 at 1000 ms (1_000_000 µs); r2 and r3 receive it and acknowledge, so every member holds it.
 * r3's clock is 5 ms behind (within the skew bound): its acknowledgement carries its clock-based floor,
 * 995_000 µs, below the stamp, so Test II at r1 waits for r3's clock to pass the stamp.
 */
function heldByAllWithLaggingFloor() {
  const c = cluster(['r1', 'r2', 'r3'], { ...skewed, clockOffsetMs: { r3: -5 } })
  c.get('r1').submit(req('a', 1))
  c.get('r1').flush()
  c.deliverAll('r1', 'r2')
  c.deliverAll('r1', 'r3')
  c.get('r2').flush()
  c.get('r3').flush()
  c.deliverAll('r2', 'r1')
  c.deliverAll('r3', 'r1')
  expect(c.keys('r1')).toEqual([]) // every member holds it, but r3's floor (995_000 µs) is below its stamp
  return c
}

describe('Test I: the clock passed the stamp by Δ', () => {
  it('a request every member holds, while a member\'s clock-based floor lags behind its stamp, is delivered when the clock reads stamp + Δ, not before', () => {
    const c = heldByAllWithLaggingFloor()
    c.advance(24.999)
    c.get('r1').tick() // r3's later heartbeats (its clock passed the stamp) are still on their way
    expect(c.keys('r1')).toEqual([])
    c.advance(0.001)
    c.get('r1').tick()
    expect(c.keys('r1')).toEqual(['a#1'])
    expect(c.get('r1').stats()).toMatchObject({ deliveredByTestI: 1, deliveredByTestII: 0, timingViolations: 0 })
  })

  it('receiving a request does not raise a replica\'s floor: r3 acknowledges a#1 with a floor below its stamp', () => {
    const c = heldByAllWithLaggingFloor()
    const r1 = c.get('r1') as unknown as { members: string[]; linkOf: Map<string, { floor: number; acks: number[] }> }
    const r3 = r1.linkOf.get('r3')!
    expect(r3.acks[r1.members.indexOf('r1')]).toBe(1)
    expect(r3.floor).toBe(995_000)
  })
})

describe('Test II: a larger clock-based floor from every member', () => {
  it('a request every member holds is delivered before Δ once the lagging member\'s clock passed its stamp and it said so', () => {
    const c = heldByAllWithLaggingFloor()
    c.advance(5) // r3's clock reads 1000 ms: its heartbeat carries floor 1_000_000 µs
    c.get('r1').tick()
    expect(c.keys('r1')).toEqual([])
    c.get('r3').tick()
    c.deliverAll('r3', 'r1')
    expect(c.keys('r1')).toEqual(['a#1'])
    expect(c.get('r1').stats()).toMatchObject({ deliveredByTestI: 0, deliveredByTestII: 1 })
  })

  it('counts this replica\'s own clock-based floor too: a replica whose clock is behind does not deliver before it, and orders its own later request first', () => {
    // r1's clock is 5 ms behind. r2 stamps b#1 at 1000 ms; r2's and r3's floors pass the stamp, r1's does not.
    const c = cluster(['r1', 'r2', 'r3'], { ...skewed, clockOffsetMs: { r1: -5 } })
    c.stampAndAcknowledge('r2', req('b', 1), 'r3')
    expect(c.keys('r1')).toEqual([]) // every member holds b#1, every peer's floor passed it, r1's clock did not
    c.get('r1').submit(req('a', 1)) // stamped 995_000 µs by r1's clock: before b#1
    c.advance(1)
    c.settle()
    c.advance(5)
    c.tickAll()
    c.settle()
    for (const id of ['r1', 'r2', 'r3']) expect(c.keys(id)).toEqual(['a#1', 'b#1'])
    for (const id of ['r1', 'r2', 'r3']) expect(c.get(id).stats()).toMatchObject({ deliveredByTestI: 0, timingViolations: 0 })
  })

  it('a floor below the stamp is not enough', () => {
    const c = cluster(['r1', 'r2'], timing)
    c.get('r2').tick() // r2's floor: 1_000_000 µs
    c.advance(1)
    c.get('r1').submit(req('a', 1)) // stamp 1_001_000 µs
    c.get('r1').flush()
    c.deliverAll('r2', 'r1')
    c.deliverAll('r1', 'r2')
    expect(c.keys('r1')).toEqual([]) // r2's floor 1_000_000 < 1_001_000, and r2 has not acknowledged yet
    expect(c.keys('r2')).toEqual(['a#1']) // r2 holds it, r1's vector says r1 holds it, r1's floor covers it
    c.get('r2').flush()
    c.deliverAll('r2', 'r1')
    expect(c.keys('r1')).toEqual(['a#1'])
  })

  it('a single replica delivers at once', () => {
    const c = cluster(['r1'], timing)
    c.get('r1').submit(req('a', 1))
    c.get('r1').submit(req('a', 2))
    expect(c.keys('r1')).toEqual(['a#1', 'a#2'])
  })

  it('idle replicas send heartbeats so floors and acknowledgements always flow', () => {
    const c = cluster(['r1', 'r2'], { ...timing, heartbeatMs: 50 })
    c.advance(50)
    c.get('r1').tick()
    expect(c.links.get('r1>r2')).toHaveLength(1)
    c.get('r1').tick()
    expect(c.links.get('r1>r2')).toHaveLength(1) // not again before another 50 ms
    c.advance(50)
    c.get('r1').tick()
    expect(c.links.get('r1>r2')).toHaveLength(2)
  })
})

describe('the every-member acknowledgement rule', () => {
  it('a request held by all members but one is not delivered, even past Δ and with larger floors from everyone, until the last one acknowledges', () => {
    const c = cluster(['r1', 'r2', 'r3'], timing)
    c.get('r1').submit(req('a', 1))
    c.get('r1').flush() // r1's sends wait on its links
    c.deliverAll('r1', 'r2')
    c.get('r2').flush() // r2 acknowledges; its relay to r3 waits too
    c.deliverAll('r2', 'r1')
    c.advance(100)
    c.get('r2').tick()
    c.get('r3').tick()
    c.deliverAll('r2', 'r1')
    c.deliverAll('r3', 'r1')
    c.get('r1').tick()
    expect(c.keys('r1')).toEqual([]) // r1 and r2 hold it, a majority of three: not enough
    // The last member acknowledges.
    c.deliverAll('r1', 'r3')
    c.get('r3').flush()
    c.deliverAll('r3', 'r1')
    expect(c.keys('r1')).toEqual(['a#1'])
  })

  it('a request delivered at one replica, which then crashes with its last sends lost, is delivered by the flush of a single surviving reporter', () => {
    const c = cluster(['r1', 'r2', 'r3'], timing)
    c.get('r1').submit(req('a', 1))
    c.get('r1').flush()
    c.deliverAll('r1', 'r2')
    c.deliverAll('r1', 'r3')
    c.get('r2').flush()
    c.get('r3').flush()
    c.deliverAll('r2', 'r1')
    c.deliverAll('r3', 'r1')
    expect(c.keys('r1')).toEqual(['a#1']) // every member holds it, every floor passed its stamp
    expect(c.keys('r2')).toEqual([]) // r2 and r3 have not heard each other's acknowledgement yet
    expect(c.keys('r3')).toEqual([])
    c.dropFrom('r1') // r1 crashes
    // The view change merges the reports of the live members among a majority: here r2 alone (r3 is slow).
    const boundary = c.get('r2').mergeReports([c.get('r2').freeze()])
    const next = { id: 2, members: ['r2', 'r3'] }
    c.get('r3').freeze()
    expect(c.get('r2').install(next, boundary)).toBe(true)
    expect(c.get('r3').install(next, boundary)).toBe(true)
    expect(c.keys('r2')).toEqual(['a#1'])
    expect(c.keys('r3')).toEqual(['a#1'])
  })
})

describe('relaying', () => {
  it('a request whose origin crashed mid-broadcast reaches every member through the first receiver; it is delivered once all hold it, and after the view change removes the origin', () => {
    const c = cluster(['r1', 'r2', 'r3'], timing)
    c.get('r1').submit(req('a', 1))
    c.get('r1').flush()
    c.deliverAll('r1', 'r2') // only r2 got it (with r1's acknowledgement and floor): r1 crashed mid-broadcast
    c.dropFrom('r1')
    c.get('r2').flush() // relays a#1 to r3
    expect(c.keys('r2')).toEqual([]) // r3 does not hold it yet
    c.deliverAll('r2', 'r3')
    c.get('r3').flush()
    c.deliverAll('r3', 'r2') // r3 acknowledges the relayed copy
    expect(c.keys('r2')).toEqual(['a#1'])
    expect(c.get('r2').stats().relayed).toBe(1)
    // r3 never hears r1's acknowledgement: the view change removes the crashed origin first.
    c.advance(100)
    c.get('r3').tick()
    expect(c.keys('r3')).toEqual([])
    const boundary = c.get('r3').mergeReports([c.get('r2').freeze(), c.get('r3').freeze()])
    const next = { id: 2, members: ['r2', 'r3'] }
    expect(c.get('r2').install(next, boundary)).toBe(true)
    expect(c.get('r3').install(next, boundary)).toBe(true)
    expect(c.keys('r2')).toEqual(['a#1'])
    expect(c.keys('r3')).toEqual(['a#1'])
  })

  it('a request whose origin crashed mid-broadcast, stamped below one every member acknowledged, keeps the others from delivering past it by the clock', () => {
    // r1's clock is 5 ms behind (within the bound). r2 stamps b#1 at 1000 ms; r1 acknowledges it to r3 with its
    // floor (995_000 µs), stamps a#1 at 995_001 µs, below b#1, and crashes after sending it to r2 only. Every member
    // acknowledged b#1 to r3 and r1's floor stays below it, so Test I decides at r3 at 1025 ms. Without the relay,
    // r3 delivered b#1 then (session 31, relays switched off on purpose), and the view change's boundary held a#1
    // below it: a timing fault at r3 though no timing assumption broke.
    const c = cluster(['r1', 'r2', 'r3'], { ...skewed, clockOffsetMs: { r1: -5 } })
    c.stampAndAcknowledge('r2', req('b', 1), 'r1')
    c.deliverAll('r1', 'r2')
    c.get('r1').submit(req('a', 1))
    c.get('r1').flush()
    c.deliverAll('r1', 'r2') // only r2 got a#1
    c.dropFrom('r1')
    c.get('r2').flush() // acknowledges a#1 and relays it to r3
    c.get('r3').flush()
    c.deliverAll('r2', 'r3')
    c.deliverAll('r3', 'r2')
    c.advance(30) // past b#1's stamp + Δ (25 ms)
    c.get('r2').tick()
    c.get('r3').tick()
    expect(c.keys('r3')).toEqual([])
    expect(c.keys('r2')).toEqual([])
    const boundary = c.get('r3').mergeReports([c.get('r2').freeze(), c.get('r3').freeze()])
    const next = { id: 2, members: ['r2', 'r3'] }
    expect(c.get('r2').install(next, boundary)).toBe(true)
    expect(c.get('r3').install(next, boundary)).toBe(true)
    expect(c.keys('r2')).toEqual(['a#1', 'b#1'])
    expect(c.keys('r3')).toEqual(['a#1', 'b#1'])
    for (const id of ['r2', 'r3']) expect(c.get(id).stats().timingViolations).toBe(0)
  })

  it('copies of a request relayed ahead of an earlier one of its origin are held once', () => {
    // FIFO links and first-receipt relaying never bring an origin's request before an earlier one, but a relay is
    // not checked for order (only the origin's own link is): two relays of r3's #2, then r3's #1 and #2 themselves.
    const c = cluster(['r1', 'r2', 'r3', 'r4'], timing)
    const relay = { t: 'realtime', c: 0, a: {}, r: [[999_500, 'r3', 2, req('b', 2)]] }
    c.get('r1').receive('r2', relay)
    c.get('r1').receive('r4', relay)
    expect(c.get('r1').pendingCount()).toBe(1)
    c.get('r1').receive('r3', { t: 'realtime', c: 999_500, a: {}, r: [[999_000, 'r3', 1, req('b', 1)], [999_500, 'r3', 2, req('b', 2)]] })
    expect(c.get('r1').pendingCount()).toBe(2)
  })

  it('copies of a request (the origin\'s and the relays\') are delivered once', () => {
    const c = cluster(['r1', 'r2', 'r3', 'r4'], timing)
    c.get('r1').submit(req('a', 1))
    c.settle()
    for (const id of ['r1', 'r2', 'r3', 'r4']) expect(c.keys(id)).toEqual(['a#1'])
  })
})

describe('order under any interleaving', () => {
  it('every replica delivers the same sequence, in stamp order, each request once (random schedules)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 5 }), fc.array(fc.nat(1_000_000), { minLength: 20, maxLength: 300 }), (size, choices) => {
        const ids = Array.from({ length: size }, (_, i) => `r${i + 1}`)
        const c = cluster(ids, { ...timing, maxBatch: 4 })
        const seqs = new Map<string, number>()
        let submitted = 0
        for (const choice of choices) {
          const action = choice % 5
          const id = ids[(choice >> 3) % size]!
          if (action === 0) {
            const client = `c${(choice >> 5) % 3}`
            const seq = (seqs.get(client) ?? 0) + 1
            seqs.set(client, seq)
            c.get(id).submit(req(client, seq))
            submitted++
          } else if (action === 1) {
            c.get(id).flush()
          } else if (action === 2) {
            c.advance(0.25) // time passes, never near Δ: Test II orders
          } else {
            const busy = c.busyLinks()
            if (busy.length > 0) {
              const [from, to] = busy[(choice >> 7) % busy.length]!
              c.deliverOne(from!, to!)
            }
          }
        }
        c.advance(1) // the clocks pass every stamp (stamps may run a few µs ahead of the clock); still below Δ
        c.settle()
        c.tickAll()
        c.settle()
        for (const id of ids) expect(c.get(id).stats().deliveredByTestI).toBe(0)
        const reference = c.keys(ids[0]!)
        expect(reference).toHaveLength(submitted)
        expect(new Set(reference).size).toBe(submitted)
        for (const id of ids) expect(c.keys(id)).toEqual(reference)
        for (const id of ids) expect(c.diverged.get(id)).toEqual([])
      }),
      { seed: 20261130, numRuns: 300 },
    )
  })
})

describe('bad messages', () => {
  const request = { client: 'a', seq: 1, command: 1 }
  const bad: [string, unknown][] = [
    ['not an object', 'hello'],
    ['wrong type', { t: 'lamport', c: 1, a: {} }],
    ['negative floor', { t: 'realtime', c: -1, a: {} }],
    ['vector not an object', { t: 'realtime', c: 1, a: [] }],
    ['vector count not an integer', { t: 'realtime', c: 1, a: { r1: 'x' } }],
    ['entries not an array', { t: 'realtime', c: 1, a: {}, r: {} }],
    ['entry of wrong arity', { t: 'realtime', c: 1, a: {}, r: [[1, 'r2', 1]] }],
    ['entry without a request', { t: 'realtime', c: 2, a: {}, r: [[1, 'r2', 1, null]] }],
    ['request seq zero', { t: 'realtime', c: 2, a: {}, r: [[1, 'r2', 1, { client: 'a', seq: 0, command: 1 }]] }],
    ['an origin outside the view', { t: 'realtime', c: 2, a: {}, r: [[1, 'r9', 1, request]] }],
    ['a gap in the sender\'s request numbers', { t: 'realtime', c: 5, a: {}, r: [[1, 'r2', 2, request]] }],
    ['a stamp above the message\'s floor', { t: 'realtime', c: 1, a: {}, r: [[3, 'r2', 1, request]] }],
    ['a relay of a request this replica never stamped', { t: 'realtime', c: 1, a: {}, r: [[1, 'r1', 1, request]] }],
    ['a probe that is not a number', { t: 'realtime', c: 1, a: {}, p: 'now' }],
    ['a probe answer of wrong shape', { t: 'realtime', c: 1, a: {}, q: [1] }],
    // Found: a sparse array's holes were skipped by the check and read as undefined by the orderer.
    // eslint-disable-next-line no-sparse-arrays
    ['a probe answer with holes', { t: 'realtime', c: 1, a: {}, q: [, ,] }],
    // eslint-disable-next-line no-sparse-arrays
    ['entries with a hole', { t: 'realtime', c: 2, a: {}, r: [, [1, 'r2', 1, request]] }],
  ]
  for (const [what, message] of bad) {
    it(`rejects ${what} with MALFORMED_MESSAGE and keeps working`, () => {
      const c = cluster(['r1', 'r2'], timing)
      expect(() => c.get('r1').receive('r2', message)).toThrow(expect.objectContaining({ code: 'MALFORMED_MESSAGE' }))
      c.get('r1').submit(req('a', 1))
      c.settle()
      expect(c.keys('r1')).toEqual(['a#1'])
    })
  }

  it('rejects messages from replicas outside the view', () => {
    const c = cluster(['r1', 'r2'], timing)
    expect(() => c.get('r1').receive('r7', { t: 'realtime', c: 1, a: {} })).toThrow(expect.objectContaining({ code: 'UNKNOWN_PEER' }))
  })
})
