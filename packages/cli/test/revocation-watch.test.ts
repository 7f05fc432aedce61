import { describe, expect, it } from 'vitest'
import type { RevocationList } from '@lockstep/transport-tcp'
import { REVOCATION_WARN_AHEAD_MS, watchRevocationLists } from '../src/revocation-watch'

const DAY = 86_400_000

/** A list due at `nextUpdateMs` (or with none). */
const list = (issuer: string, nextUpdateMs: number | undefined): RevocationList =>
  ({ issuer, thisUpdate: new Date(0), nextUpdate: nextUpdateMs === undefined ? undefined : new Date(nextUpdateMs), revoked: new Set(), signedBy: () => true, revokes: () => false }) as RevocationList

/** A manual clock with one timer at a time, and the lines logged. */
function manual(startMs: number) {
  let now = startMs
  let timer: { at: number; run: () => void } | undefined
  const lines: { level: string; message: string }[] = []
  const log = { debug() {}, info() {}, warn: (message: string) => void lines.push({ level: 'warn', message }), error: (message: string) => void lines.push({ level: 'error', message }) }
  const clock = {
    nowMs: () => now,
    setTimer: (ms: number, run: () => void) => (timer = { at: now + ms, run }),
    clearTimer: () => void (timer = undefined),
  }
  /** Moves time to `ms`, running the timer whenever it falls due on the way (a watch that re-arms without end fails). */
  const advanceTo = (ms: number) => {
    let runs = 0
    while (timer !== undefined && timer.at <= ms) {
      if (++runs > 100) throw new Error(`the watch's timer ran 100 times by ${new Date(now).toISOString()}: it re-arms without end`)
      const due = timer
      timer = undefined
      now = due.at
      due.run()
    }
    now = ms
  }
  return { clock, log, lines, advanceTo, pending: () => timer }
}

describe("a replica's watch over its revocation lists' next updates", () => {
  it('warns a day before the earliest next update, and says at error level when it passed', () => {
    const m = manual(0)
    watchRevocationLists([list('CN=later', 40 * DAY), list('CN=ca', 30 * DAY), list('CN=none', undefined)], m.clock, m.log)
    m.advanceTo(29 * DAY - 1)
    expect(m.lines).toEqual([])
    m.advanceTo(29 * DAY)
    expect(m.lines).toEqual([{ level: 'warn', message: expect.stringMatching(/^the revocation list of CN=ca \(security\.tls\.crl\) is due for renewal at 1970-01-31T00:00:00\.000Z, in 1440 min: past it, TLS refuses every certificate of its CA/) as unknown }])
    m.advanceTo(30 * DAY)
    expect(m.lines[1]).toEqual({ level: 'error', message: expect.stringMatching(/^the revocation list of CN=ca \(security\.tls\.crl\) expired at 1970-01-31T00:00:00\.000Z: TLS now refuses every certificate of its CA/) as unknown })
    expect(m.lines).toHaveLength(2)
    expect(m.pending()).toBeUndefined()
  })

  it('warns at once when the next update is less than a day away, and waits no longer than a timer can', () => {
    const soon = manual(0)
    watchRevocationLists([list('CN=ca', 3_600_000)], soon.clock, soon.log)
    expect(soon.lines).toEqual([{ level: 'warn', message: expect.stringMatching(/is due for renewal at .*, in 60 min/) as unknown }])
    const far = manual(0)
    watchRevocationLists([list('CN=ca', 365 * DAY)], far.clock, far.log)
    expect(far.pending()!.at).toBe(2 ** 31 - 1)
    far.advanceTo(365 * DAY - REVOCATION_WARN_AHEAD_MS)
    expect(far.lines.map((l) => l.level)).toEqual(['warn'])
  })

  it('stops: nothing is said after the stop, and lists without a next update are not watched', () => {
    const m = manual(0)
    const stop = watchRevocationLists([list('CN=ca', 2 * DAY)], m.clock, m.log)
    stop()
    m.advanceTo(3 * DAY)
    expect(m.lines).toEqual([])
    const none = manual(0)
    watchRevocationLists([list('CN=ca', undefined)], none.clock, none.log)
    expect(none.pending()).toBeUndefined()
  })
})
