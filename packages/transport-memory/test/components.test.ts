import { describe, expect, it } from 'vitest'
import type { Logger, Scheduler } from '@lockstep/interface'
import { MemoryNetwork, memoryClientTransport, memoryTransport } from '../src/index'

/** Deferred work runs when `drain` is called; no timers are needed with zero delay. */
function manualScheduler() {
  const deferred: (() => void)[] = []
  const scheduler: Scheduler = {
    now: () => 0,
    setTimer: () => {
      throw new Error('no timers with zero delay')
    },
    clearTimer: () => {},
    defer: (fn) => void deferred.push(fn),
  }
  return { scheduler, drain: () => deferred.splice(0).forEach((fn) => fn()) }
}

function recordingLogger(lines: string[]): Logger {
  const record = (message: string) => void lines.push(message)
  return { debug: record, info: record, warn: record, error: record }
}

describe('memory transports are built from components', () => {
  it('take their id from the components and log through the injected logger', async () => {
    const { scheduler, drain } = manualScheduler()
    const network = new MemoryNetwork({ scheduler })
    const replicas = ['r1', 'r2']
    const lines: string[] = []
    const log = recordingLogger(lines)
    const [r1, r2] = replicas.map((self) => memoryTransport({ network, replicas })({ self, scheduler, log }))
    const client = memoryClientTransport({ network, replicas })({ self: 'c1', scheduler, log })
    expect([r1!.self, r2!.self, client.self]).toEqual(['r1', 'r2', 'c1'])

    const atR2: unknown[] = []
    await r1!.start({ onPeerMessage: () => {}, onClientMessage: () => {} })
    await r2!.start({ onPeerMessage: (from, message) => atR2.push([from, message]), onClientMessage: (from, message) => atR2.push([from, message]) })
    await client.start(() => {})
    r1!.send('r2', 'hello')
    client.send('r2', 'from c1')
    drain()
    expect(atR2).toEqual([['r1', 'hello'], ['c1', 'from c1']])
    await Promise.all([r1!.stop(), r2!.stop(), client.stop()])
    expect(lines).toEqual([
      "memory transport 'r1': attached to the network",
      "memory transport 'r2': attached to the network",
      "memory client 'c1': attached to the network",
      "memory transport 'r1': detached from the network",
      "memory transport 'r2': detached from the network",
      "memory client 'c1': detached from the network",
    ])
  })

  it('one configuration serves every replica', () => {
    const { scheduler } = manualScheduler()
    const log = recordingLogger([])
    const factory = memoryTransport({ network: new MemoryNetwork({ scheduler }), replicas: ['r1', 'r2', 'r3'] })
    expect(['r1', 'r2', 'r3'].map((self) => factory({ self, scheduler, log }).self)).toEqual(['r1', 'r2', 'r3'])
  })
})
