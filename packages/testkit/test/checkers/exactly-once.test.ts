import { describe, expect, it } from 'vitest'
import { checkExactlyOnce } from '../../src/sim/checkers/exactly-once'
import { incarnation } from './records'

describe('exactly-once checker', () => {
  it('passes duplicates that the session table answered without executing them again', () => {
    expect(checkExactlyOnce([
      incarnation('r1', 0, ['c1#1', 'c1#1!', 'c1#2']),
      incarnation('r2', 0, ['c1#1', 'c1#1!', 'c1#2']),
    ])).toEqual([])
  })

  it('flags an incarnation that executed a request twice', () => {
    expect(checkExactlyOnce([incarnation('r2', 1, ['c1#1', 'c1#1', 'c1#2', 'c1#2'])])).toEqual([
      'exactly-once: r2 (restart 1) executed 2 requests twice',
      'exactly-once: c1#1 executed at positions 1 and 2',
      'exactly-once: c1#2 executed at positions 3 and 4',
    ])
  })

  it('flags a request executed at two positions by different replicas', () => {
    expect(checkExactlyOnce([
      incarnation('r1', 0, ['c1#1', 'c2#1']),
      incarnation('r2', 0, ['c2#1', 'c1#1']),
    ])).toEqual(['exactly-once: c2#1 executed at positions 2 and 1', 'exactly-once: c1#1 executed at positions 1 and 2'])
  })
})
