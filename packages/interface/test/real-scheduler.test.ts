import { describe, expect, it } from 'vitest'
import { realScheduler } from '../src/index'

describe('realScheduler', () => {
  it('reads time on the epoch scale, so a later process reads larger times (incarnations grow across restarts)', () => {
    const now = realScheduler().now()
    // performance.timeOrigin + performance.now(), not time since this process started.
    expect(Math.abs(now - Date.now())).toBeLessThan(1000)
  })

  it('never goes backwards', () => {
    const scheduler = realScheduler()
    let last = scheduler.now()
    for (let i = 0; i < 10_000; i++) {
      const now = scheduler.now()
      expect(now).toBeGreaterThanOrEqual(last)
      last = now
    }
  })

  it('runs timers and deferred work, and cancels timers', async () => {
    const scheduler = realScheduler()
    const ran: string[] = []
    const cancelled = scheduler.setTimer(1, () => ran.push('cancelled'))
    scheduler.clearTimer(cancelled)
    await new Promise<void>((resolve) => {
      scheduler.defer(() => ran.push('deferred'))
      scheduler.setTimer(5, () => {
        ran.push('timer')
        resolve()
      })
    })
    expect(ran).toEqual(['deferred', 'timer'])
  })

  it('runs deferred work in the order deferred, across schedulers; work deferred while it runs waits for the next turn', async () => {
    const [one, two] = [realScheduler(), realScheduler()]
    const ran: string[] = []
    await new Promise<void>((resolve) => {
      one.defer(() => {
        ran.push('a')
        // Deferred now: after everything deferred before, and not in this turn (a timer due now runs first).
        one.defer(() => {
          ran.push('d')
          resolve()
        })
        ran.push(`a deferred d`)
      })
      two.defer(() => ran.push('b'))
      one.defer(() => {
        ran.push('c')
        queueMicrotask(() => ran.push('c microtask'))
      })
    })
    expect(ran).toEqual(['a', 'a deferred d', 'b', 'c', 'c microtask', 'd'])
  })
})

