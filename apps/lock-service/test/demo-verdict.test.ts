import type { WorkloadEvent } from '@lockstep/testkit'
import { describe, expect, it } from 'vitest'
import { safetyVerdict, type ResourceWrite } from '../src/demo-verdict'

/** Grants and releases in the order given (tick and time follow it). */
function history(steps: readonly (readonly ['grant' | 'release', string])[]): WorkloadEvent[] {
  return steps.map(([kind, client], i) => ({ kind, client, tick: i + 1, time: i + 1 }))
}

const takingTurns = history([
  ['grant', 'a'],
  ['release', 'a'],
  ['grant', 'b'],
  ['release', 'b'],
  ['grant', 'a'],
  ['release', 'a'],
])
const increasing: ResourceWrite[] = [
  { client: 'a', token: 1 },
  { client: 'b', token: 2 },
  { client: 'a', token: 5 },
]

describe("the demo's safety verdict", () => {
  it('holds for holders taking turns whose fencing tokens strictly increase in the resource log', () => {
    expect(safetyVerdict(takingTurns, increasing)).toEqual({ holds: true, mutualExclusion: [], fencing: [] })
  })

  it('fails when two clients hold the lock at once', () => {
    const overlapping = history([
      ['grant', 'a'],
      ['grant', 'b'],
      ['release', 'a'],
      ['release', 'b'],
    ])
    const verdict = safetyVerdict(overlapping, increasing)
    expect(verdict.holds).toBe(false)
    expect(verdict.mutualExclusion).toEqual([expect.stringContaining("'b' was granted the lock at t=2ms while 'a' held it since t=1ms")])
    expect(verdict.fencing).toEqual([])
  })

  it('fails when a fencing token in the resource log is not higher than the one before it', () => {
    const repeated = safetyVerdict(takingTurns, [
      { client: 'a', token: 1 },
      { client: 'b', token: 2 },
      { client: 'a', token: 2 },
    ])
    expect(repeated.holds).toBe(false)
    expect(repeated.mutualExclusion).toEqual([])
    expect(repeated.fencing).toEqual(["write 3 to the resource, by 'a', carries fencing token 2, not higher than 2 of the write before (by 'b')"])

    const decreasing = safetyVerdict(takingTurns, [
      { client: 'a', token: 3 },
      { client: 'b', token: 1 },
    ])
    expect(decreasing.holds).toBe(false)
    expect(decreasing.fencing).toEqual(["write 2 to the resource, by 'b', carries fencing token 1, not higher than 3 of the write before (by 'a')"])
  })

  it('fails when a write to the resource carries no fencing token', () => {
    const verdict = safetyVerdict(takingTurns, [{ client: 'a', token: 1 }, { client: 'b', token: undefined }])
    expect(verdict.holds).toBe(false)
    expect(verdict.fencing).toEqual(["write 2 to the resource, by 'b', carries no fencing token"])
  })
})
