import { describe, expect, it } from 'vitest'
import { kv } from '@lockstep/machines'
import { lamport } from '@lockstep/order-lamport'
import type { Logger, ReplicaComponents, Scheduler, StorageFactory, TimerHandle, Transport, TransportFactory } from '@lockstep/interface'
import { ReplicaHost, memoryStorage } from '../src/index'
import { immediate } from './helpers'

/** A scheduler that only counts what it is asked to do: time never passes in these tests. */
function countingScheduler() {
  const counts = { setTimer: 0, defer: 0 }
  const scheduler: Scheduler = {
    now: () => 0,
    setTimer: (): TimerHandle => ++counts.setTimer,
    clearTimer: () => {},
    defer: () => void counts.defer++,
  }
  return { scheduler, counts }
}

const logger: Logger = { debug() {}, info() {}, warn() {}, error() {} }

/** A transport factory that records the components it was built with. */
function recordingTransport(seen: ReplicaComponents[]): TransportFactory {
  return (components) => {
    seen.push(components)
    const transport: Transport = { self: components.self, start: async () => {}, send() {}, sendToClient() {}, stop: async () => {} }
    return transport
  }
}

describe('ReplicaHost builds its plug-ins', () => {
  it('with its own self, scheduler and logger', async () => {
    const { scheduler, counts } = countingScheduler()
    const seen: ReplicaComponents[] = []
    const storage = memoryStorage()
    const recordingStorage: StorageFactory = (components) => {
      seen.push(components)
      return storage(components)
    }
    const host = new ReplicaHost({
      self: 'r1',
      replicas: ['r1'],
      machine: kv,
      orderer: lamport(),
      transport: recordingTransport(seen),
      storage: recordingStorage,
      membership: {},
      scheduler,
      log: logger,
    })
    expect(seen).toHaveLength(2)
    for (const components of seen) {
      expect(components.self).toBe('r1')
      expect(components.scheduler).toBe(scheduler)
      expect(components.log).toBe(logger)
    }
    await host.start()
    expect(counts.setTimer).toBeGreaterThan(0) // the tick runs on the same scheduler
    await host.stop()
  })

  it('with the real scheduler and a silent logger by default', () => {
    const seen: ReplicaComponents[] = []
    new ReplicaHost({ self: 'r2', replicas: ['r2'], machine: kv, orderer: immediate, transport: recordingTransport(seen), membership: false })
    const [components] = seen
    expect(Math.abs(components!.scheduler.now() - Date.now())).toBeLessThan(1000)
    expect(components!.log.info).toBeTypeOf('function')
  })

  it('refuses a transport that was built for another replica', () => {
    const wrong: TransportFactory = (components) => ({ ...recordingTransport([])(components), self: 'r9' })
    expect(() => new ReplicaHost({ self: 'r1', replicas: ['r1'], machine: kv, orderer: immediate, transport: wrong, membership: false })).toThrow(
      expect.objectContaining({ code: 'INVALID_CONFIG', message: "replica 'r1' was given the transport of 'r9'" }),
    )
  })
})
