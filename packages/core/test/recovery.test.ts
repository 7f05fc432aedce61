import { describe, expect, it } from 'vitest'
import { decideRecovery, type RecoveryReport } from '../src/engine/recovery'

const report = (view: number, position: number): RecoveryReport => ({ view: { id: view, members: ['r1', 'r2', 'r3'] }, position })

describe('whole-cluster recovery decision', () => {
  it('waits until every configured replica reported', () => {
    expect(decideRecovery(new Map([['r1', report(2, 5)], ['r2', report(2, 9)]]), ['r1', 'r2', 'r3'])).toBeUndefined()
  })

  it('resumes after the newest view anyone remembers, from the replica that delivered most, ties to the lowest id', () => {
    const reports = new Map([['r3', report(2, 9)], ['r1', report(4, 5)], ['r2', report(3, 9)]])
    expect(decideRecovery(reports, ['r3', 'r2', 'r1'])).toEqual({ view: { id: 5, members: ['r1', 'r2', 'r3'] }, source: 'r2', position: 9 })
  })

  it('decides alike whatever order the reports arrived in', () => {
    const entries: [string, RecoveryReport][] = [['r1', report(1, 3)], ['r2', report(2, 7)], ['r3', report(2, 7)]]
    const a = decideRecovery(new Map(entries), ['r1', 'r2', 'r3'])
    const b = decideRecovery(new Map([...entries].reverse()), ['r1', 'r2', 'r3'])
    expect(a).toEqual(b)
    expect(a?.source).toBe('r2')
  })
})
