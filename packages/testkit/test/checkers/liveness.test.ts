import { describe, expect, it } from 'vitest'
import { checkLiveness, describeStall } from '../../src/sim/checkers/liveness'

describe('liveness checker', () => {
  it('passes when every client finished', () => {
    expect(checkLiveness({ clients: 3, finished: 3, operations: 90, bound: '600000ms' })).toEqual([])
  })

  it('says how many clients were stuck, within which bound, and how far they got', () => {
    expect(checkLiveness({ clients: 4, finished: 1, operations: 17, bound: '30000ms after the faults stopped (at 3000ms)' })).toEqual([
      'liveness: 3 of 4 clients did not finish within 30000ms after the faults stopped (at 3000ms) of virtual time (17 requests completed)',
    ])
  })

  it('names what the replicas were doing when the bound passed', () => {
    expect(checkLiveness({ clients: 2, finished: 1, operations: 5, bound: '600000ms', replicas: 'r1 normal in view 2 {r1,r2} at 5; r3 down' })).toEqual([
      'liveness: 1 of 2 clients did not finish within 600000ms of virtual time (5 requests completed); replicas: r1 normal in view 2 {r1,r2} at 5; r3 down',
    ])
  })

  it('describes a stalled request: which, since when, what was faulty, and every replica', () => {
    const replicas = 'r1 frozen in view 4 {r1,r2} at 9; r2 recovering in view 3 {r1,r2,r3} at 7; r3 down'
    expect(describeStall({ key: 'c2~1#7', sentAtMs: 1200.4, waitingSinceMs: 1200.4, nowMs: 11_300, boundMs: 10_000, f: 1, faulty: 'r3 down', replicas })).toBe(
      `liveness: request c2~1#7 got no reply for 10100ms (sent at 1200ms) while at most F=1 replicas were faulty (bound 10000ms); faulty now: r3 down; replicas: ${replicas}`,
    )
    expect(describeStall({ key: 'c1#3', sentAtMs: 500, waitingSinceMs: 2_000, nowMs: 12_100, boundMs: 10_000, f: 2, faulty: 'none', replicas })).toMatch(
      /got no reply for 10100ms \(sent at 500ms, before a blackout that ended at 2000ms\)/,
    )
  })
})
