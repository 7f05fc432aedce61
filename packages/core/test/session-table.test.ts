import { describe, expect, it } from 'vitest'
import type { Reply } from '@lockstep/interface'
import { SessionTable } from '../src/engine/session-table'

const reply = (client: string, seq: number, position: number): Reply => ({ client, seq, ok: true, outputs: [], position })

/** One executed request of a one-shot client at `position`, as the replicated state records it. */
function execute(table: SessionTable, client: string, position: number, incarnation = position): void {
  table.beginIncarnation(client, incarnation)
  table.record(client, 1, 1, undefined, reply(client, 1, position))
  table.touch(client, position)
  table.dropIdle(position)
}

describe('the bounded session table', () => {
  it('stays within its capacity, dropping the least recently active sessions first', () => {
    const table = new SessionTable({ capacity: 3 })
    for (let i = 1; i <= 10; i++) execute(table, `c${i}`, i)
    expect(table.size).toBe(3)
    expect(table.lookup('c10', 1, 10)).toMatchObject({ kind: 'executed' })
    expect(table.lookup('c8', 1, 8)).toMatchObject({ kind: 'executed' })
    // A dropped client's retry may have executed: it is refused, never executed again.
    expect(table.lookup('c2', 1, 2)).toEqual({ kind: 'expired', resumeAbove: 7 })
    // A new client (an incarnation above every dropped one) starts a session.
    expect(table.lookup('c99', 1, 50)).toEqual({ kind: 'new' })
  })

  it('drops a session idle for longer than the expiry, measured in positions of the order', () => {
    const table = new SessionTable({ expireAfterPositions: 5 })
    execute(table, 'old', 1)
    for (let p = 2; p <= 6; p++) execute(table, 'busy', p, 2)
    expect(table.lookup('old', 1, 1)).toMatchObject({ kind: 'executed' })
    execute(table, 'busy', 7, 2)
    expect(table.lookup('old', 1, 1)).toEqual({ kind: 'expired', resumeAbove: 1 })
  })

  it('keeps a session with outputs its client has not acknowledged (a granted lock must not vanish)', () => {
    const table = new SessionTable({ capacity: 1 })
    table.addOutput('waiter', (outputSeq, incarnation) => ({ outputSeq, value: 'OK', to: 'waiter', cause: { client: 'x', seq: 1 }, position: 1, incarnation }))
    table.touch('waiter', 1)
    for (let i = 2; i <= 5; i++) execute(table, `c${i}`, i)
    expect(table.outputsFrom('waiter', 1)).toHaveLength(1)
  })

  it('is the same data on every replica that did the same, and survives a snapshot in its order', () => {
    const [a, b] = [new SessionTable({ capacity: 4 }), new SessionTable({ capacity: 4 })]
    for (const table of [a, b]) for (let i = 1; i <= 9; i++) execute(table, `c${i % 6}`, i)
    expect(a.toJSON()).toEqual(b.toJSON())
    const restored = new SessionTable({ capacity: 4 })
    restored.restore(JSON.parse(JSON.stringify(a.toJSON())))
    execute(a, 'next', 10)
    execute(restored, 'next', 10)
    expect(restored.toJSON()).toEqual(a.toJSON())
  })

  it('keeps the replies a pipelining client has not acknowledged, in the order they executed, across a snapshot', () => {
    const table = new SessionTable()
    const kept = (t: SessionTable) => ((t.toJSON() as { sessions: [string, number, number, Reply[]][] }).sessions[0]![3]).map((r) => r.seq)
    table.beginIncarnation('p', 1)
    // Requests 1..4 in flight, executed out of seq order (retried elsewhere), acknowledged below 1.
    for (const [position, seq] of [[1, 2], [2, 1], [3, 4], [4, 3]] as const) table.record('p', seq, 1, undefined, reply('p', seq, position))
    expect(kept(table)).toEqual([2, 1, 4, 3])
    for (const seq of [1, 2, 3, 4]) expect(table.lookup('p', seq, 1)).toEqual({ kind: 'executed', reply: reply('p', seq, [2, 1, 4, 3].indexOf(seq) + 1) })
    // Request 5 acknowledges everything below 3: 1 and 2 are forgotten (and refused as expired), 3 and 4 kept.
    table.record('p', 5, 3, undefined, reply('p', 5, 5))
    expect(kept(table)).toEqual([4, 3, 5])
    expect(table.lookup('p', 1, 1)).toEqual({ kind: 'expired' })
    expect(table.lookup('p', 2, 1)).toEqual({ kind: 'expired' })
    const restored = new SessionTable()
    restored.restore(JSON.parse(JSON.stringify(table.toJSON())))
    expect(restored.toJSON()).toEqual(table.toJSON())
    // A closed loop from here on: one reply kept at a time.
    for (const t of [table, restored]) for (let seq = 6; seq <= 9; seq++) t.record('p', seq, seq, undefined, reply('p', seq, seq))
    expect(kept(table)).toEqual([9])
    expect(restored.toJSON()).toEqual(table.toJSON())
    expect(table.lookup('p', 8, 1)).toEqual({ kind: 'expired' })
    expect(table.lookup('p', 9, 1)).toMatchObject({ kind: 'executed' })
  })
})
