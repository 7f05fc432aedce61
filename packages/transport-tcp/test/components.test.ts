import { afterEach, describe, expect, it } from 'vitest'
import { realScheduler } from '@lockstep/interface'
import type { Scheduler } from '@lockstep/interface'
import { MessageInbox } from '@lockstep/testkit/compliance'
import { tcp } from '../src/index'
import { CLUSTER, HOST, REPLICA_SECRET, RecordingLogger, bindCluster, clientFor } from './helpers'

/** The real scheduler, counting what it is asked to do. */
function countingScheduler() {
  const real = realScheduler()
  const counts = { now: 0, setTimer: 0, defer: 0 }
  const scheduler: Scheduler = {
    now: () => (counts.now++, real.now()),
    setTimer: (delayMs, fn) => (counts.setTimer++, real.setTimer(delayMs, fn)),
    clearTimer: (handle) => real.clearTimer(handle),
    defer: (fn) => (counts.defer++, real.defer(fn)),
  }
  return { scheduler, counts }
}

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup()
})

describe('tcp endpoints are built from components', () => {
  it('a replica endpoint takes its id from the components and runs on the injected scheduler and logger', async () => {
    const r1 = countingScheduler()
    const logger = new RecordingLogger()
    const [a, b] = await bindCluster(['r1', 'r2'], (id) => (id === 'r1' ? { scheduler: r1.scheduler, logger } : {}))
    cleanups.push(async () => void (await Promise.all([a!.stop(), b!.stop()])))
    expect([a!.self, b!.self]).toEqual(['r1', 'r2'])
    const atR2 = new MessageInbox('r2')
    await a!.start({ onPeerMessage: () => {}, onClientMessage: () => {} })
    await b!.start({ onPeerMessage: (from, message) => atR2.push(from, message), onClientMessage: () => {} })
    a!.send('r2', 'hello')
    await atR2.waitForCount('r1', 1)
    await logger.waitFor(/link r1 -> r2 established/)
    expect(logger.has(/r1 listening on 127\.0\.0\.1:\d+/)).toBe(true)
    expect(r1.counts.setTimer).toBeGreaterThan(0) // handshake and idle timers
    expect(r1.counts.defer).toBeGreaterThan(0) // the link's batched writes
    expect(r1.counts.now).toBeGreaterThan(0)
  })

  it('a client endpoint takes its id from the components and runs on the injected scheduler and logger', async () => {
    const [r1] = await bindCluster(['r1'])
    const { scheduler, counts } = countingScheduler()
    const logger = new RecordingLogger()
    const client = clientFor('c1', [r1!], { scheduler, logger })
    cleanups.push(async () => void (await Promise.all([client.stop(), r1!.stop()])))
    expect(client.self).toBe('c1')
    const atR1 = new MessageInbox('r1')
    await r1!.start({ onPeerMessage: () => {}, onClientMessage: (from, message) => atR1.push(from, message) })
    await client.start(() => {})
    client.send('r1', 'hello')
    await atR1.waitForCount('c1', 1)
    await client.stop()
    expect(logger.has(/lockstep tcp: closed c1 -> r1 at 127\.0\.0\.1:\d+: transport stopping/)).toBe(true)
    expect(counts.setTimer).toBeGreaterThan(0)
    expect(counts.defer).toBeGreaterThan(0)
  })

  it('one configuration serves every replica: the id is not an option', () => {
    const factory = tcp({ clusterId: CLUSTER, listen: { host: HOST, port: 0 }, peers: [], auth: { secret: REPLICA_SECRET } })
    const log = new RecordingLogger()
    const scheduler = realScheduler()
    expect(['r1', 'r2'].map((self) => factory({ self, scheduler, log }).self)).toEqual(['r1', 'r2'])
    expect(() => factory({ self: '', scheduler, log })).toThrow(/tcp\(""\): self must be a string/)
  })
})
