import { describe, expect, it } from 'vitest'
import { compareStateDigests } from '../src/index'

const A = 'a'.repeat(64)
const B = 'b'.repeat(64)
const C = 'c'.repeat(64)

describe('compareStateDigests', () => {
  it('agrees on the digest a majority of the n replicas hold and names the minority', () => {
    expect(compareStateDigests([
      { replicaId: 'r1', position: 9, digest: A },
      { replicaId: 'r2', position: 9, digest: B },
      { replicaId: 'r3', position: 9, digest: A },
    ], 3)).toEqual({ agreed: true, position: 9, digest: A, agreeing: ['r1', 'r3'], minority: ['r2'] })
  })

  it('counts a majority of the cluster, not of the reports', () => {
    const two = [{ replicaId: 'r1', position: 4, digest: A }, { replicaId: 'r2', position: 4, digest: A }]
    expect(compareStateDigests(two, 3)).toMatchObject({ agreed: true, digest: A, minority: [] })
    expect(compareStateDigests(two, 5)).toEqual({ agreed: false, reason: `no digest at position 4 is held by a majority of the 5 replicas (3 needed): ${A.slice(0, 12)}… by r1, r2` })
  })

  it('agrees on nothing without a majority, and says who holds what', () => {
    const check = compareStateDigests([
      { replicaId: 'r1', position: 1, digest: A },
      { replicaId: 'r2', position: 1, digest: B },
      { replicaId: 'r3', position: 1, digest: C },
    ], 3)
    expect(check).toEqual({ agreed: false, reason: `no digest at position 1 is held by a majority of the 3 replicas (2 needed): ${A.slice(0, 12)}… by r1; ${B.slice(0, 12)}… by r2; ${C.slice(0, 12)}… by r3` })
  })

  it('counts a replica reporting twice once, and one that reported two digests for none (minority)', () => {
    expect(compareStateDigests([
      { replicaId: 'r1', position: 2, digest: A },
      { replicaId: 'r1', position: 2, digest: A },
      { replicaId: 'r2', position: 2, digest: B },
    ], 3)).toMatchObject({ agreed: false })
    expect(compareStateDigests([
      { replicaId: 'r1', position: 2, digest: A },
      { replicaId: 'r1', position: 2, digest: B },
      { replicaId: 'r2', position: 2, digest: B },
      { replicaId: 'r3', position: 2, digest: B },
    ], 3)).toEqual({ agreed: true, position: 2, digest: B, agreeing: ['r2', 'r3'], minority: ['r1'] })
    expect(compareStateDigests([
      { replicaId: 'r1', position: 2, digest: A },
      { replicaId: 'r1', position: 2, digest: B },
      { replicaId: 'r2', position: 2, digest: A },
    ], 3)).toMatchObject({ agreed: false, reason: expect.stringContaining('two different digests from r1') })
  })

  it('refuses to compare digests from different positions', () => {
    expect(compareStateDigests([
      { replicaId: 'r1', position: 5, digest: A },
      { replicaId: 'r2', position: 6, digest: A },
    ], 3)).toEqual({ agreed: false, reason: 'the reports are from different positions (5, 6); compare digests taken at one position' })
  })

  it('agrees on nothing with no reports, or with more replicas than the cluster has', () => {
    expect(compareStateDigests([], 3)).toEqual({ agreed: false, reason: 'no digest reports to compare' })
    const four = ['r1', 'r2', 'r3', 'r4'].map((replicaId) => ({ replicaId, position: 1, digest: A }))
    expect(compareStateDigests(four, 3)).toEqual({ agreed: false, reason: "4 distinct replicas reported, more than the cluster's 3" })
  })

  it('refuses an n that is not a positive integer with INVALID_ARGUMENT', () => {
    expect(() => compareStateDigests([], 0)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('n (the number of replicas in the cluster) must be a positive integer, got 0') }))
  })
})
