import { describe, expect, it } from 'vitest'
import { isLockstepError, type Scheduler } from '@lockstep/interface'
import { MemoryNetwork } from '../src/index'

/** Deferred work and timers (all due at once: zero delay) run when `drain` is called. */
function manualScheduler() {
  const deferred: (() => void)[] = []
  const scheduler: Scheduler = {
    now: () => 0,
    setTimer: (_ms, fn) => void deferred.push(fn),
    clearTimer: () => {},
    defer: (fn) => void deferred.push(fn),
  }
  return { scheduler, drain: () => deferred.splice(0).forEach((fn) => fn()) }
}

describe('a memory network with a link capacity', () => {
  it('refuses a send past the messages a link holds on their way (BACKPRESSURE, nothing sent), and takes sends again once they arrived', () => {
    const { scheduler, drain } = manualScheduler()
    const network = new MemoryNetwork({ scheduler, maxInFlightPerLink: 3, limitsLink: (from, to) => from.startsWith('r') && to.startsWith('r') })
    const got: unknown[] = []
    network.attach('r1', () => {})
    network.attach('r2', (_from, message) => got.push(message))
    network.attach('c1', () => {})
    network.partition(['r1'], ['r2', 'c1'])
    for (const n of [1, 2, 3]) network.send('r1', 'r2', n)
    let refusal: unknown
    try {
      network.send('r1', 'r2', 4)
    } catch (error) {
      refusal = error
    }
    expect(isLockstepError(refusal) && refusal.code).toBe('BACKPRESSURE')
    expect(String((refusal as Error).message)).toContain('the link r1 -> r2 holds 3 messages on their way')
    expect(network.stats).toMatchObject({ sent: 3, refused: 1 })
    // A link the predicate leaves out (a client's) holds any number.
    for (let n = 0; n < 10; n++) network.send('r1', 'c1', n)
    network.heal()
    drain()
    drain()
    expect(got).toEqual([1, 2, 3])
    network.send('r1', 'r2', 5)
    drain()
    expect(got).toEqual([1, 2, 3, 5])
  })

  it('cutLink holds what one node sends to another, one way, until heal; the other way goes on', () => {
    const { scheduler, drain } = manualScheduler()
    const network = new MemoryNetwork({ scheduler })
    const got: string[] = []
    network.attach('a', (from, message) => got.push(`a<-${from}:${String(message)}`))
    network.attach('b', (from, message) => got.push(`b<-${from}:${String(message)}`))
    network.cutLink('a', 'b')
    network.send('a', 'b', 'held')
    network.send('b', 'a', 'through')
    drain()
    drain()
    expect(got).toEqual(['a<-b:through'])
    network.heal()
    drain()
    drain()
    expect(got).toEqual(['a<-b:through', 'b<-a:held'])
  })
})
