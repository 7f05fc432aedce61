import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { cluster, req } from './harness'

// Δ = 2 * 10 + 0 = 20 ms in these tests.
const timing = { maxDelayMs: 10, maxSkewMs: 0, heartbeatMs: 5 }

describe('Test I: the clock passed the stamp by Δ', () => {
  it('with a member silent, a request held by a majority is delivered when the clock reads stamp + Δ, not before', () => {
    const c = cluster(['r1', 'r2', 'r3'], timing)
    c.get('r1').submit(req('a', 1)) // stamp 1_000_000 µs
    c.get('r1').flush()
    c.deliverAll('r1', 'r2')
    c.get('r2').flush() // acknowledges (and relays to r3, which is silent: nothing from r3 ever arrives)
    c.deliverAll('r2', 'r1')
    expect(c.keys('r1')).toEqual([])
    c.advance(19.999)
    c.get('r1').tick()
    expect(c.keys('r1')).toEqual([])
    c.advance(0.001)
    c.get('r1').tick()
    expect(c.keys('r1')).toEqual(['a#1'])
    expect(c.get('r1').stats()).toMatchObject({ deliveredByTestI: 1, deliveredByTestII: 0, timingViolations: 0 })
  })
})

describe('Test II: a larger stamp from every member', () => {
  it('a request is delivered before Δ once every member sent a larger floor and a majority holds it', () => {
    const c = cluster(['r1', 'r2', 'r3'], timing)
    c.get('r1').submit(req('a', 1))
    c.get('r1').flush()
    c.deliverAll('r1', 'r2')
    c.get('r2').flush()
    c.deliverAll('r2', 'r1')
    expect(c.keys('r1')).toEqual([]) // r3's floor is missing
    // r3 is idle: its heartbeat carries its current floor.
    c.advance(5)
    c.get('r3').tick()
    c.deliverAll('r3', 'r1')
    expect(c.keys('r1')).toEqual(['a#1'])
    expect(c.get('r1').stats()).toMatchObject({ deliveredByTestI: 0, deliveredByTestII: 1 })
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

describe('the majority-acknowledgement rule', () => {
  it('a request only its origin holds is not delivered, even past Δ and with larger floors from everyone', () => {
    const c = cluster(['r1', 'r2', 'r3'], timing)
    c.get('r1').submit(req('a', 1))
    c.get('r1').flush() // r1's sends wait on its links
    c.advance(100)
    c.get('r2').tick()
    c.get('r3').tick()
    c.deliverAll('r2', 'r1')
    c.deliverAll('r3', 'r1')
    c.get('r1').tick()
    expect(c.keys('r1')).toEqual([])
    // One peer acknowledges: r1 and r2 are a majority of three.
    c.deliverAll('r1', 'r2')
    c.get('r2').flush()
    c.deliverAll('r2', 'r1')
    expect(c.keys('r1')).toEqual(['a#1'])
  })

  it('a request delivered at one replica, which then crashes with its last sends lost, is delivered by the survivors\' flush', () => {
    const c = cluster(['r1', 'r2', 'r3'], timing)
    c.get('r1').submit(req('a', 1))
    c.get('r1').flush()
    c.deliverAll('r1', 'r2')
    c.links.get('r1>r3')!.length = 0 // lost
    c.get('r2').flush()
    c.deliverAll('r2', 'r1') // r2's acknowledgement; its relay to r3 is lost too when r2 is slow
    c.links.get('r2>r3')!.length = 0
    c.advance(20)
    c.get('r1').tick()
    expect(c.keys('r1')).toEqual(['a#1'])
    c.dropFrom('r1') // r1 crashes
    const boundary = c.get('r2').mergeReports([c.get('r2').freeze(), c.get('r3').freeze()])
    const next = { id: 2, members: ['r2', 'r3'] }
    expect(c.get('r2').install(next, boundary)).toBe(true)
    expect(c.get('r3').install(next, boundary)).toBe(true)
    expect(c.keys('r2')).toEqual(['a#1'])
    expect(c.keys('r3')).toEqual(['a#1'])
  })
})

describe('relaying', () => {
  it('a request whose origin crashed mid-broadcast reaches every member through the first receiver, and all deliver it', () => {
    const c = cluster(['r1', 'r2', 'r3'], timing)
    c.get('r1').submit(req('a', 1))
    c.get('r1').flush()
    c.deliverAll('r1', 'r2') // only r2 got it: r1 crashed mid-broadcast
    c.dropFrom('r1')
    c.get('r2').flush()
    c.deliverAll('r2', 'r3')
    c.get('r3').flush()
    c.deliverAll('r3', 'r2')
    c.advance(20) // r1 is silent: Test I
    c.get('r2').tick()
    c.get('r3').tick()
    expect(c.keys('r2')).toEqual(['a#1'])
    expect(c.keys('r3')).toEqual(['a#1'])
    expect(c.get('r2').stats().relayed).toBe(1)
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
        c.settle()
        c.tickAll()
        c.settle()
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
