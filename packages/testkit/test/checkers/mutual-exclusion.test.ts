import { describe, expect, it } from 'vitest'
import { checkMutualExclusion } from '../../src/sim/checkers/mutual-exclusion'

describe('mutual exclusion checker', () => {
  it('passes holders one after another, whatever order the events were recorded in', () => {
    expect(checkMutualExclusion([
      { kind: 'grant', client: 'b', tick: 3, time: 4 },
      { kind: 'grant', client: 'a', tick: 1, time: 0 },
      { kind: 'release', client: 'a', tick: 2, time: 4 },
      { kind: 'release', client: 'b', tick: 4, time: 6 },
    ])).toEqual([])
  })

  it('names both clients and times when a grant arrives while another client holds the lock', () => {
    expect(checkMutualExclusion([
      { kind: 'grant', client: 'a', tick: 1, time: 0 },
      { kind: 'grant', client: 'b', tick: 2, time: 3 },
      { kind: 'release', client: 'a', tick: 3, time: 5 },
    ])).toEqual(["mutual exclusion violated: 'b' was granted the lock at t=3ms while 'a' held it since t=0ms"])
  })

  it('orders by tick, not time: a grant at the same virtual time as a release but recorded before it overlaps', () => {
    expect(checkMutualExclusion([
      { kind: 'grant', client: 'a', tick: 1, time: 0 },
      { kind: 'grant', client: 'b', tick: 2, time: 5 },
      { kind: 'release', client: 'a', tick: 3, time: 5 },
    ])).toHaveLength(1)
  })
})
