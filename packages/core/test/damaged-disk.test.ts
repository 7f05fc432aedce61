import { describe, expect, it } from 'vitest'
import type { Request, View } from '@lockstep/interface'
import { readDamagedDisk, type PositionedEntry } from '../src/engine/disk-contents'
import type { RecoveredEntry } from '../src/engine/engine-types'

// What a disk damaged in the middle of its log still tells for sure (issue 11, two of three disks damaged).

const initial: View = { id: 1, members: ['r1', 'r2', 'r3'] }
const request = (at: number): RecoveredEntry => ({ request: { client: 'c', seq: at, incarnation: 1, command: { n: at } } as unknown as Request, at })
const view3: RecoveredEntry = { view: { id: 3, members: ['r1', 'r2', 'r3'] }, configuration: ['r1', 'r2', 'r3'] }
const votes: RecoveredEntry = { votes: { promised: { round: 2, coordinator: 'r2' }, accepted: null } as never }

/** Entries at log positions from 1, except those in `lost`; holes between the records around each lost run. */
function disk(entries: RecoveredEntry[], lost: number[]) {
  const kept: PositionedEntry[] = entries.flatMap((entry, i) => (lost.includes(i + 1) ? [] : [{ logPosition: i + 1, entry }]))
  const holes: { after: number; before: number }[] = []
  for (let i = 1; i < kept.length; i++) if (kept[i]!.logPosition - kept[i - 1]!.logPosition > 1 && lost.some((l) => l > kept[i - 1]!.logPosition && l < kept[i]!.logPosition)) holes.push({ after: kept[i - 1]!.logPosition, before: kept[i]!.logPosition })
  return { snapshot: undefined, entries: kept, holes }
}

describe('readDamagedDisk', () => {
  const log = [view3, votes, request(1), request(2), request(3), request(4), request(5), request(6)]

  it('when every lost record was a request, the view, the votes and the position are certain', () => {
    const reading = readDamagedDisk(disk(log, [5]), initial)
    expect(reading).toMatchObject({ certain: true, position: 6 })
    if (!reading.certain) throw new Error('uncertain')
    expect(reading.contents.view.id).toBe(3)
    expect(reading.contents.votes).toEqual({ promised: { round: 2, coordinator: 'r2' }, accepted: null })
    expect(readDamagedDisk(disk(log, [4, 5]), initial)).toMatchObject({ certain: true, position: 6 }) // two requests in one hole
    expect(readDamagedDisk(disk(log, [3, 6]), initial)).toMatchObject({ certain: true, position: 6 }) // two holes
  })

  it('a lost vote or view makes it uncertain (the replica could vote twice, or miss its view)', () => {
    expect(readDamagedDisk(disk(log, [2]), initial)).toMatchObject({ certain: false, reason: expect.stringContaining('may have held votes or a view') })
    const withLateVotes = [view3, request(1), request(2), votes, request(3), request(4)]
    expect(readDamagedDisk(disk(withLateVotes, [4]), initial)).toMatchObject({ certain: false })
  })

  it('a hole with no request after it is uncertain: what it lost is unknown', () => {
    expect(readDamagedDisk(disk([...log, votes], [8]), initial).certain).toBe(false)
  })

  it('a log of an earlier version (requests without positions) is uncertain', () => {
    const old = log.map((e) => ('request' in e ? { request: e.request } : e))
    expect(readDamagedDisk(disk(old, [5]), initial)).toMatchObject({ certain: false, reason: expect.stringContaining('earlier version') })
  })

  it('counts from the snapshot position', () => {
    const snapshot = { position: 40, view: { id: 3, members: ['r1', 'r2', 'r3'] } } as never
    const entries: PositionedEntry[] = [41, 42, 44].map((at, i) => ({ logPosition: 100 + (at === 44 ? 3 : i), entry: request(at) }))
    expect(readDamagedDisk({ snapshot, entries, holes: [{ after: 101, before: 103 }] }, initial)).toMatchObject({ certain: true, position: 44 })
    expect(readDamagedDisk({ snapshot, entries: entries.slice(1), holes: [{ after: 99, before: 101 }] }, initial)).toMatchObject({ certain: false })
  })
})
