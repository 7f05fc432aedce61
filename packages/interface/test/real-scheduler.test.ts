import { describe, expect, it } from 'vitest'
import { GENERATIONS_PER_TURN, realScheduler } from '../src/index'

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

  it('runs deferred work in the order deferred, across schedulers; with one generation per turn, work deferred while it runs waits for the next turn', async () => {
    const [one, two] = [realScheduler({ generationsPerTurn: 1 }), realScheduler({ generationsPerTurn: 1 })]
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

  it('with generationsPerTurn 1 runs one generation of deferred work per turn: the I/O of the turn in between joins the next batch', async () => {
    const scheduler = realScheduler({ generationsPerTurn: 1 })
    const ran: string[] = []
    await new Promise<void>((resolve) => {
      scheduler.defer(() => {
        ran.push('g0')
        setImmediate(() => ran.push('immediate'))
        scheduler.defer(() => {
          ran.push('g1')
          resolve()
        })
      })
    })
    expect(ran).toEqual(['g0', 'immediate', 'g1'])
  })

  it(`by default runs GENERATIONS_PER_TURN generations of deferred work in one turn, then lets the event loop turn (I/O, timers, immediates)`, async () => {
    const scheduler = realScheduler()
    const ran: string[] = []
    await new Promise<void>((resolve) => {
      const generation = (n: number) => () => {
        ran.push(`g${n}`)
        if (n === 0) setImmediate(() => ran.push('immediate'))
        if (n < GENERATIONS_PER_TURN + 3) scheduler.defer(generation(n + 1))
        else resolve()
      }
      scheduler.defer(generation(0))
    })
    // Several generations per turn: one turn each left an in-process cluster's event loop polling a fifth of the time.
    expect(GENERATIONS_PER_TURN).toBeGreaterThanOrEqual(8)
    const turn = Array.from({ length: GENERATIONS_PER_TURN }, (_, n) => `g${n}`)
    expect(ran).toEqual([...turn, 'immediate', ...[0, 1, 2, 3].map((k) => `g${GENERATIONS_PER_TURN + k}`)])
  })

  it('with generationsPerTurn runs work that the continuations of a generation defer in the same turn', async () => {
    const scheduler = realScheduler({ generationsPerTurn: GENERATIONS_PER_TURN })
    const ran: string[] = []
    let reply: () => void = () => {}
    const answered = new Promise<void>((resolve) => (reply = resolve))
    let finish: () => void = () => {}
    const finished = new Promise<void>((resolve) => (finish = resolve))
    // A caller awaits a reply through two async hops, as a client's submit does, then defers its next request.
    const caller = (async () => {
      await (async () => {
        await answered
      })()
      ran.push('continued')
      scheduler.defer(() => {
        ran.push('next request')
        finish()
      })
    })()
    scheduler.defer(() => {
      ran.push('reply')
      setImmediate(() => ran.push('immediate'))
      reply()
    })
    await Promise.all([caller, finished])
    expect(ran).toEqual(['reply', 'continued', 'next request'])
  })

  it('refuses a generationsPerTurn that is not a positive integer', () => {
    expect(() => realScheduler({ generationsPerTurn: 0 })).toThrow('realScheduler: generationsPerTurn must be an integer >= 1 (got 0)')
    expect(() => realScheduler({ generationsPerTurn: 1.5 })).toThrow(RangeError)
  })
})
