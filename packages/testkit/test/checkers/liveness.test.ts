import { describe, expect, it } from 'vitest'
import { checkLiveness } from '../../src/sim/checkers/liveness'

describe('liveness checker', () => {
  it('passes when every client finished', () => {
    expect(checkLiveness({ clients: 3, finished: 3, operations: 90, bound: '600000ms' })).toEqual([])
  })

  it('says how many clients were stuck, within which bound, and how far they got', () => {
    expect(checkLiveness({ clients: 4, finished: 1, operations: 17, bound: '30000ms after the faults stopped (at 3000ms)' })).toEqual([
      'liveness: 3 of 4 clients did not finish within 30000ms after the faults stopped (at 3000ms) of virtual time (17 requests completed)',
    ])
  })
})
