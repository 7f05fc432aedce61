import { describe, expect, it } from 'vitest'
import { checkCompleteness } from '../../src/sim/checkers/completeness'
import type { IncarnationRecord } from '../../src/sim/checkers/incarnation-record'
import { incarnation } from './records'

const clients = (submitted: string[], acknowledged: string[], allFinished = true) => ({ submitted: new Set(submitted), acknowledged: new Set(acknowledged), allFinished })

describe('completeness checker', () => {
  it('passes when every submitted request was executed somewhere, even only by a replica that crashed since', () => {
    expect(checkCompleteness([incarnation('r1', 0, ['a#1']), incarnation('r2', 0, ['a#1', 'a#2'])], clients(['a#1', 'a#2'], ['a#1', 'a#2']))).toEqual([])
  })

  it('flags an acknowledged request that no replica executed (lost)', () => {
    expect(checkCompleteness([incarnation('r1', 0, ['a#1'])], clients(['a#1', 'a#2', 'a#3'], ['a#1', 'a#3'], false))).toEqual([
      'lost: 1 acknowledged requests were never executed (first: a#3)',
    ])
  })

  it('counts a duplicate delivery that was not executed as not executed', () => {
    expect(checkCompleteness([incarnation('r1', 0, ['a#1!'])], clients(['a#1'], ['a#1']))).toEqual([
      'lost: 1 acknowledged requests were never executed (first: a#1)',
      'agreement: 1 submitted requests were never executed (first: a#1)',
    ])
  })

  it('flags submitted requests never executed once every client finished, and only then', () => {
    const records = [incarnation('r1', 0, ['a#1'])]
    expect(checkCompleteness(records, clients(['a#1', 'a#2', 'b#1'], ['a#1']))).toEqual(['agreement: 2 submitted requests were never executed (first: a#2)'])
    expect(checkCompleteness(records, clients(['a#1', 'a#2', 'b#1'], ['a#1'], false))).toEqual([])
  })

  it('counts a delivery rolled back by a transferred state as lost, unless that state orders the same requests up to there (world seed 3012)', () => {
    // r3 delivered a#1 and a#2 itself; the others took them as a suffix (no delivery recorded); later r3 took
    // a whole state: if its order up to there was r3's own (equal digests), a#2 is still executed there.
    const rolledBack = (inTransferredState: boolean): IncarnationRecord => {
      const r3 = incarnation('r3', 0, ['a#1', 'a#2'])
      return { ...r3, deliveries: r3.deliveries.map((d) => ({ ...d, superseded: true, inTransferredState })) }
    }
    expect(checkCompleteness([rolledBack(false)], clients(['a#1', 'a#2'], ['a#2']))).toEqual([
      'lost: 1 acknowledged requests were never executed (first: a#2)',
      'agreement: 2 submitted requests were never executed (first: a#1)',
    ])
    expect(checkCompleteness([rolledBack(true)], clients(['a#1', 'a#2'], ['a#2']))).toEqual([])
  })

  it('flags a request executed that no client submitted', () => {
    expect(checkCompleteness([incarnation('r1', 2, ['a#1', 'z#9'])], clients(['a#1'], ['a#1']))).toEqual(['r1 (restart 2) executed z#9, which no client submitted'])
  })

  it('does not ask for the requests a stopped client process abandoned, but still for everything acknowledged', () => {
    const records = [incarnation('r1', 0, ['a#1'])]
    const abandoned = { ...clients(['a#1', 'a#2', 'a~1#1'], ['a#1']), abandoned: new Set(['a#2']) }
    expect(checkCompleteness(records, abandoned)).toEqual(['agreement: 1 submitted requests were never executed (first: a~1#1)'])
  })
})
