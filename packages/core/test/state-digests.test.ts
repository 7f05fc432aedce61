import { describe, expect, it } from 'vitest'
import { ErrorCodes, type Logger } from '@lockstep/interface'
import { kv } from '@lockstep/machines'
import { DIGEST_POSITIONS_KEPT, StateDigestChecks } from '../src/engine/state-digests'
import type { PeerMessage } from '../src/engine/peer-messages'
import { ReplicaEngine } from '../src/index'
import { immediate } from './helpers'

function recordingLog() {
  const lines: { level: string; message: string; fields?: Record<string, unknown> }[] = []
  const at = (level: string) => (message: string, fields?: Record<string, unknown>) => void lines.push({ level, message, ...(fields ? { fields } : {}) })
  const log: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
  return { log, lines }
}

function checks(self = 'r1', members = ['r1', 'r2', 'r3'], every = 10) {
  const { log, lines } = recordingLog()
  const sent: { to: string; message: PeerMessage }[] = []
  const diverged: number[] = []
  const digests = new StateDigestChecks(
    {
      self,
      log,
      members: () => members,
      send: (to, message) => sent.push({ to, message }),
      diverged: (position) => (diverged.push(position), 'It rejoins.'),
    },
    every,
  )
  return { digests, lines, sent, diverged }
}

describe('state digests', () => {
  it('a replica whose digest differs from the majority of its view says so at error level, naming the position and the replicas, and rejoins', () => {
    const { digests, lines, sent, diverged } = checks()
    digests.own(20, 'bad')
    expect(sent).toEqual([
      { to: 'r2', message: { kind: 'stateDigest', position: 20, digest: 'bad' } },
      { to: 'r3', message: { kind: 'stateDigest', position: 20, digest: 'bad' } },
    ])
    digests.onReport('r2', 20, 'good')
    expect(diverged).toEqual([]) // no majority yet: 'bad' once, 'good' once
    digests.onReport('r3', 20, 'good')
    expect(diverged).toEqual([20])
    expect(digests.divergences).toBe(1)
    const error = lines.find((line) => line.level === 'error')
    expect(error?.message).toMatch(/replica 'r1': its state at position 20 differs from the majority's \(digest bad, while r2, r3 hold good; minority: r1\)\. It rejoins\./)
    expect(error?.fields).toMatchObject({ code: ErrorCodes.STATE_DIVERGED, position: 20, minority: ['r1'], agreeing: ['r2', 'r3'] })
    // A late report changes nothing more.
    digests.onReport('r3', 20, 'good')
    expect(diverged).toEqual([20])
  })

  it('a replica in the majority names the minority at warn level, once, and does not rejoin', () => {
    const { digests, lines, diverged } = checks()
    digests.onReport('r3', 30, 'odd')
    digests.onReport('r2', 30, 'same')
    digests.own(30, 'same')
    expect(diverged).toEqual([])
    const warns = lines.filter((line) => line.level === 'warn')
    expect(warns.map((line) => line.message)).toEqual([
      "replica 'r1': the state of r3 at position 30 differs from the majority's (r2, r1 hold same); the minority rejoins by state transfer",
    ])
    digests.onReport('r3', 30, 'odd')
    expect(lines.filter((line) => line.level === 'warn')).toHaveLength(1)
  })

  it('says at error level once when no digest has a majority, and counts only members of the view', () => {
    const { digests, lines, diverged } = checks()
    digests.onReport('r9', 10, 'x') // not a member: not counted
    digests.own(10, 'a')
    digests.onReport('r2', 10, 'b')
    digests.onReport('r3', 10, 'c')
    digests.onReport('r3', 10, 'c')
    expect(diverged).toEqual([])
    const errors = lines.filter((line) => line.level === 'error')
    expect(errors).toHaveLength(1)
    expect(errors[0]!.message).toMatch(/the state digests at position 10 differ and no digest is held by a majority of the view/)
  })

  it('ignores reports at positions that are not checkpoints here, and keeps only the newest positions', () => {
    const { digests, lines, diverged } = checks()
    digests.onReport('r2', 15, 'x')
    expect(lines[0]?.message).toMatch(/not a multiple of its stateDigestEvery \(10\)/)
    for (let i = 1; i <= DIGEST_POSITIONS_KEPT + 5; i++) digests.onReport('r2', i * 10, 'good')
    expect(digests.positionsKept).toBe(DIGEST_POSITIONS_KEPT)
    // Position 10 was forgotten: the majority that would now form there is not seen.
    digests.onReport('r3', 10, 'good')
    digests.own(10, 'bad')
    expect(diverged).toEqual([])
    // A kept one still decides.
    digests.onReport('r3', 200, 'good')
    digests.own(200, 'bad')
    expect(diverged).toEqual([200])
  })

  it('an engine rejects a stateDigestEvery that is not a whole number, and checks nothing with 0', () => {
    const base = { self: 'r1', machine: kv, orderer: immediate, clock: { now: () => 0 }, view: { id: 1, members: ['r1'] }, effects: { sendToPeer: () => {}, sendToClient: () => {} } }
    expect(() => new ReplicaEngine({ ...base, stateDigestEvery: -1 })).toThrow(/stateDigestEvery must be a whole number of deliveries/)
    expect(() => new ReplicaEngine({ ...base, stateDigestEvery: 2.5 })).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_CONFIG }))
    expect(() => new ReplicaEngine({ ...base, evidenceWindow: 0 })).toThrow(/evidenceWindow must be a whole number of positions >= 1/)
    const off = checks('r1', ['r1'], 0)
    expect(off.digests.isCheckpoint(1000)).toBe(false)
  })
})
