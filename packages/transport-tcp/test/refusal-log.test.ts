import { describe, expect, it } from 'vitest'
import type { Scheduler } from '@lockstep/interface'
import { RefusalLog } from '../src/refusal-log'
import { RecordingLogger } from './helpers'

/** Virtual time: timers run only when the test advances the clock. */
function manualScheduler(): Scheduler & { advance(ms: number): void; readonly timers: number } {
  let now = 0
  let nextId = 0
  const timers = new Map<number, { at: number; fn: () => void }>()
  return {
    now: () => now,
    setTimer(delayMs, fn) {
      nextId += 1
      timers.set(nextId, { at: now + delayMs, fn })
      return nextId
    },
    clearTimer(handle) {
      timers.delete(handle as number)
    },
    defer: (fn) => fn(),
    advance(ms) {
      now += ms
      for (const [id, timer] of [...timers].sort((a, b) => a[1].at - b[1].at)) {
        if (timer.at > now) break
        timers.delete(id)
        timer.fn()
      }
    },
    get timers() {
      return timers.size
    },
  }
}

describe('RefusalLog', () => {
  it('logs the first refusal at once and the rest in one line per cause per interval; quiet again, the timer stops', () => {
    const logger = new RecordingLogger()
    const scheduler = manualScheduler()
    const log = new RefusalLog('r1', logger, scheduler)
    log.refused('10.0.0.1', 'per-address limit', 'too many connections from 10.0.0.1')
    for (let i = 0; i < 1827; i += 1) log.refused('127.0.0.1', 'per-address limit')
    log.refused('10.0.0.2', 'global connection limit')
    log.refused('10.0.0.3', 'global connection limit')
    log.refused('10.0.0.3', 'global connection limit')
    expect(logger.lines.map((l) => l.message)).toEqual([
      'lockstep tcp: r1: refused a connection from 10.0.0.1: too many connections from 10.0.0.1 (further refusals are logged every 10 s)',
    ])
    scheduler.advance(10_000)
    expect(logger.lines.slice(1).map((l) => l.message)).toEqual([
      'lockstep tcp: r1: refused 1,827 connections from 127.0.0.1 in the last 10 s: per-address limit',
      'lockstep tcp: r1: refused 3 connections from 2 addresses (most from 10.0.0.3: 2) in the last 10 s: global connection limit',
    ])
    // A quiet interval: nothing logged, no timer left.
    scheduler.advance(10_000)
    expect(logger.lines).toHaveLength(3)
    expect(scheduler.timers).toBe(0)
    // The next refusal is logged at once again.
    log.refused('10.0.0.9', 'per-address limit')
    expect(logger.lines).toHaveLength(4)
    log.refused('10.0.0.9', 'per-address limit')
    log.stop()
    expect(logger.lines.map((l) => l.message)[4]).toBe('lockstep tcp: r1: refused 1 connection from 10.0.0.9 in the last 10 s: per-address limit')
    expect(scheduler.timers).toBe(0)
    log.refused('10.0.0.9', 'per-address limit')
    expect(logger.lines).toHaveLength(5)
  })
})
