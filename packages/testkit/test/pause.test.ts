import { describe, expect, it } from 'vitest'
import { kv } from '@lockstep/machines'
import { sequencer } from './sequencer'
import { PauseGate } from '../src/sim/pause-gate'
import { SimCluster } from '../src/sim/sim-cluster'
import { VirtualScheduler } from '../src/sim/virtual-scheduler'

// A paused process (`kill -STOP`, a stop-the-world pause, an event loop blocked for seconds) runs none of its code
// while the world goes on; then it runs everything it missed at once. Found: a replica whose event loop was blocked
// for minutes encoding huge messages (cli's large-values.test.ts) did not stop on SIGTERM; the simulator could not
// show it, because nothing in it ever paused.
describe('PauseGate', () => {
  it('holds timers, deferred work and messages while shut, and runs them in the order they came due when it opens', () => {
    const scheduler = new VirtualScheduler()
    const gate = new PauseGate()
    const gated = gate.scheduler(scheduler)
    const ran: string[] = []
    gated.setTimer(10, () => ran.push('timer 10'))
    gate.pause()
    gated.setTimer(20, () => ran.push('timer 20'))
    gated.defer(() => ran.push('deferred'))
    const cleared = gated.setTimer(30, () => ran.push('timer 30 (cleared before it ran)'))
    gated.setTimer(40, () => ran.push('timer 40'))
    while (scheduler.step()) {
      // run every event
    }
    expect(scheduler.now()).toBe(40)
    expect(ran).toEqual([]) // nothing ran, though every timer came due
    expect(gate.waiting).toBe(5)
    gated.clearTimer(cleared) // as a callback that runs first on resuming would
    gate.resume()
    expect(ran).toEqual(['deferred', 'timer 10', 'timer 20', 'timer 40'])
    expect(gate.paused).toBe(false)
    gated.setTimer(5, () => ran.push('after'))
    scheduler.step()
    expect(ran.at(-1)).toBe('after') // open again
  })

  it('drops what it held when its process dies', () => {
    const scheduler = new VirtualScheduler()
    const gate = new PauseGate()
    const ran: string[] = []
    gate.pause()
    gate.scheduler(scheduler).setTimer(1, () => ran.push('lost'))
    scheduler.step()
    gate.drop()
    gate.resume()
    expect(ran).toEqual([])
    expect(gate.paused).toBe(false)
  })
})

describe('SimCluster.pause', () => {
  it('freezes a replica while the others go on, and it catches up with everything it missed once resumed', async () => {
    const cluster = new SimCluster({ machine: kv, orderer: sequencer, replicas: 3, seed: 7, membership: false })
    await cluster.start()
    const client = await cluster.client('c1', ['r1', 'r2', 'r3'])
    let settled = 0
    const put = (n: number) => client.submit({ name: 'put', args: { key: `k${n}`, value: `v${n}` } }).finally(() => settled++)
    for (let n = 0; n < 5; n++) {
      const reply = put(n)
      expect(await cluster.runUntil(() => settled === n + 1 && cluster.host('r3').engine.position === n + 1, 1000)).toBe(true)
      expect((await reply).ok).toBe(true)
    }
    cluster.pause('r3')
    expect(cluster.isPaused('r3')).toBe(true)
    const frozenAt = cluster.host('r3').engine.position
    const digestBefore = cluster.host('r3').engine.stateDigest()
    const replies = Array.from({ length: 20 }, (_, n) => put(100 + n))
    await cluster.runFor(3000)
    expect(settled).toBe(25)
    // The sequencer (r1) and r2 went on; r3 ran nothing: not one message handled, not one timer.
    expect(cluster.host('r1').engine.position).toBe(frozenAt + 20)
    expect(cluster.host('r3').engine.position).toBe(frozenAt)
    expect(cluster.host('r3').engine.stateDigest()).toBe(digestBefore)
    for (const reply of replies) expect((await reply).ok).toBe(true)
    cluster.resume('r3')
    expect(cluster.isPaused('r3')).toBe(false)
    // Resuming, it handles the messages that waited for it at once, in order.
    expect(cluster.host('r3').engine.position).toBe(frozenAt + 20)
    await cluster.runFor(100)
    expect(new Set(['r1', 'r2', 'r3'].map((id) => cluster.host(id).engine.stateDigest())).size).toBe(1)
    await cluster.stop()
  })

  it('a replica crashed while paused restarts with its gate open', async () => {
    const cluster = new SimCluster({ machine: kv, orderer: sequencer, replicas: 3, seed: 8, membership: false })
    await cluster.start()
    cluster.pause('r2')
    cluster.crashNow('r2')
    expect(cluster.isPaused('r2')).toBe(false)
    await cluster.runFor(50)
    await cluster.restartWithAmnesia('r2')
    expect(cluster.isRunning('r2')).toBe(true)
    await cluster.stop()
  })
})
