import { describe, expect, it } from 'vitest'
import { checkStateDigests } from '../../src/sim/checkers/state-digests'

describe('state digest checker', () => {
  it('passes equal digests (and a lone replica, and none)', () => {
    expect(checkStateDigests([{ replica: 'r1', position: 9, digest: 'ab' }, { replica: 'r2', position: 9, digest: 'ab' }])).toEqual([])
    expect(checkStateDigests([{ replica: 'r1', position: 9, digest: 'ab' }])).toEqual([])
    expect(checkStateDigests([])).toEqual([])
  })

  it('lists every replica with its position and digest when they differ', () => {
    expect(checkStateDigests([
      { replica: 'r1', position: 9, digest: 'ab' },
      { replica: 'r2', position: 9, digest: 'cd' },
      { replica: 'r3', position: 9, digest: 'ab' },
    ])).toEqual(['state digests differ across replicas: r1@9=ab, r2@9=cd, r3@9=ab'])
  })
})
