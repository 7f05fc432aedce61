import { describe, expect, it } from 'vitest'
import type { Scheduler } from '@lockstep/interface'
import { MemoryNetwork } from '../src/index'

/** A scheduler whose deferred work and timers run only when the test drains them (timers in due order). */
function manualScheduler() {
  let now = 0
  const deferred: (() => void)[] = []
  const timers: { at: number; fn: () => void }[] = []
  const scheduler: Scheduler = {
    now: () => now,
    defer: (fn) => void deferred.push(fn),
    setTimer: (ms, fn) => void timers.push({ at: now + ms, fn }),
    clearTimer: () => {},
  }
  const drain = () => {
    for (;;) {
      if (deferred.length > 0) deferred.shift()!()
      else if (timers.length > 0) {
        timers.sort((a, b) => a.at - b.at)
        const timer = timers.shift()!
        now = Math.max(now, timer.at)
        timer.fn()
      } else return
    }
  }
  return { scheduler, drain }
}

const betweenReplicas = (from: string, to: string) => from.startsWith('r') && to.startsWith('r')

describe('a memory network holding messages for a restarted node (holdForRestart), as TCP links do', () => {
  for (const delay of [{ minMs: 0, maxMs: 0 }, { minMs: 1, maxMs: 5 }]) {
    it(`hands what was on its way to a crashed node, and what was sent while it was down, to its next run, in order (delay ${delay.maxMs} ms)`, () => {
      const { scheduler, drain } = manualScheduler()
      let draws = 0
      const network = new MemoryNetwork({ scheduler, delay, random: { next: () => (draws++ % 7) / 7 } as never, holdForRestart: betweenReplicas })
      const firstRun: unknown[] = []
      const secondRun: unknown[] = []
      const atR1: unknown[] = []
      network.attach('r1', (_from, m) => atR1.push(m))
      network.attach('r2', (_from, m) => firstRun.push(m))
      network.send('r1', 'r2', 'a')
      drain()
      network.send('r1', 'r2', 'b') // on its way when r2 crashes
      network.send('r2', 'r1', 'lost') // from the crashed run: lost with it
      network.detach('r2')
      network.send('r1', 'r2', 'c') // sent while r2 is down
      drain()
      expect(firstRun).toEqual(['a'])
      expect(atR1).toEqual([])
      network.attach('r2', (_from, m) => secondRun.push(m))
      network.send('r1', 'r2', 'd')
      drain()
      expect(secondRun).toEqual(['b', 'c', 'd'])
    })
  }

  it('without it (the default), and on links it does not name, a crash loses what was on its way', () => {
    for (const holdForRestart of [undefined, betweenReplicas]) {
      const { scheduler, drain } = manualScheduler()
      const network = new MemoryNetwork({ scheduler, ...(holdForRestart && { holdForRestart }) })
      const got: unknown[] = []
      network.attach('c1', () => {})
      network.attach('r2', () => {})
      network.send('r2', 'c1', 'reply') // to a client: never held
      network.send('c1', 'r2', 'request')
      network.detach('c1')
      if (!holdForRestart) network.detach('r2')
      drain()
      network.attach('c1', (_from, m) => got.push(m))
      if (!holdForRestart) network.attach('r2', (_from, m) => got.push(m))
      drain()
      expect(got).toEqual([])
      expect(network.stats.dropped).toBe(2) // the reply (to a client) and the request (from the crashed client)
    }
  })

  it('a link that connects late (connectsAt) hands over nothing before it connects; what was sent waits, in order, and goes to the next run of a receiver that crashed meanwhile', () => {
    const { scheduler, drain } = manualScheduler()
    const network = new MemoryNetwork({ scheduler, holdForRestart: betweenReplicas, connectsAt: (from, to) => (from === 'r3' && to === 'r2' ? 1_000 : 0) })
    const got: string[] = []
    network.attach('r2', (from, m) => got.push(`first run: ${from} ${String(m)}`))
    network.attach('r3', () => {})
    network.send('r3', 'r2', 'join (fresh)')
    network.send('r1', 'r2', 'from r1') // r1 -> r2 is up at once
    let at = -1
    scheduler.setTimer(999, () => {
      at = scheduler.now()
      expect(got).toEqual(['first run: r1 from r1']) // r3's join still waits for its link
      network.detach('r2') // r2 crashes before the link from r3 ever connected
      network.attach('r2', (from, m) => got.push(`next run: ${from} ${String(m)}`))
    })
    drain()
    expect(at).toBe(999)
    expect(got).toEqual(['first run: r1 from r1', 'next run: r3 join (fresh)'])
  })
})
