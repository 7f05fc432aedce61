import { describe, expect, it } from 'vitest'
import { kv } from '@lockstep/machines'
import { lamport } from '@lockstep/order-lamport'
import { ErrorCodes, LockstepError, type Logger, type ReplicaComponents, type Scheduler, type StateMachine, type StorageFactory, type TimerHandle, type Transport, type TransportFactory, type TransportHandler } from '@lockstep/interface'
import { ReplicaHost, memoryStorage } from '../src/index'
import { encodePeerMessage } from '../src/engine/peer-codec'
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

  it("says which machine failed, and in which method, when the machine's init throws", () => {
    const needsConfig: StateMachine = { ...kv, name: 'needs-config', init: () => { throw new Error('no settings file') } }
    expect(() => new ReplicaHost({ self: 'r1', replicas: ['r1'], machine: needsConfig, orderer: immediate, transport: recordingTransport([]), membership: false })).toThrow(
      expect.objectContaining({ code: ErrorCodes.INTERNAL, message: "machine 'needs-config' failed in init: no settings file" }),
    )
  })

  it('refuses a transport that was built for another replica', () => {
    const wrong: TransportFactory = (components) => ({ ...recordingTransport([])(components), self: 'r9' })
    expect(() => new ReplicaHost({ self: 'r1', replicas: ['r1'], machine: kv, orderer: immediate, transport: wrong, membership: false })).toThrow(
      expect.objectContaining({ code: 'INVALID_CONFIG', message: "replica 'r1' was given the transport of 'r9'" }),
    )
  })
})

describe('ReplicaHost when its storage fails', () => {
  it('halts, says so at error level, sends no reply, and calls onFailed once with the error', async () => {
    const errors: string[] = []
    const log: Logger = { ...logger, error: (message: string) => void errors.push(message) }
    let handler: TransportHandler | undefined
    const sent: unknown[] = []
    let transportStopped = false
    const transport: TransportFactory = (components) => ({
      self: components.self,
      start: async (h) => void (handler = h),
      send() {},
      sendToClient: (_to, message) => void sent.push(message),
      stop: async () => void (transportStopped = true),
    })
    let full = false
    const failing = refusingStorage((operation) => (full && operation === 'sync' ? new LockstepError(ErrorCodes.STOPPED, 'disk: ENOSPC: no space left on device') : undefined))
    const failures: Error[] = []
    const host = new ReplicaHost({ self: 'r1', replicas: ['r1'], machine: kv, orderer: lamport(), transport, storage: failing, membership: {}, log, onFailed: (error) => void failures.push(error) })
    await host.start()
    await until(() => host.engine.status === 'normal')
    full = true
    handler!.onClientMessage('c1', { type: 'request', request: { client: 'c1', seq: 1, command: { name: 'put', args: { key: 'k', value: 'v' } } } })
    await until(() => failures.length > 0, () => `status ${host.engine.status}, position ${host.engine.position}`)
    expect(failures).toHaveLength(1)
    expect(failures[0]!.message).toContain('ENOSPC')
    expect(host.failure).toBe(failures[0])
    expect(host.isRunning).toBe(false)
    expect(transportStopped).toBe(true)
    expect(errors.some((e) => e.includes('storage failed') && e.includes('ENOSPC'))).toBe(true)
    // The put was never durable: no reply promised it.
    expect(sent.filter((m) => (m as { type?: string }).type === 'reply')).toEqual([])
  })
})

describe('ReplicaHost when its storage refuses an append', () => {
  it('halts at once: the engine goes on with nothing, no reply and no message leaves, and onFailed is called once', async () => {
    let handler: TransportHandler | undefined
    const sent: unknown[] = []
    const transport: TransportFactory = (components) => ({
      self: components.self,
      start: async (h) => void (handler = h),
      send: (_to, message) => void sent.push(message),
      sendToClient: (_to, message) => void sent.push(message),
      stop: async () => {},
    })
    let full = false
    // A storage whose write behind failed: every later call throws (file storage's append does so synchronously).
    const refusing = refusingStorage(() => (full ? new LockstepError(ErrorCodes.STOPPED, 'disk: EFBIG: file too large') : undefined))
    const failures: Error[] = []
    const host = new ReplicaHost({ self: 'r1', replicas: ['r1'], machine: kv, orderer: lamport(), transport, storage: refusing, membership: {}, log: logger, onFailed: (error) => void failures.push(error) })
    await host.start()
    await until(() => host.engine.status === 'normal')
    sent.length = 0
    full = true
    handler!.onClientMessage('c1', { type: 'request', request: { client: 'c1', seq: 1, command: { name: 'put', args: { key: 'k', value: 'v' } } } })
    expect(host.isRunning).toBe(false)
    await until(() => failures.length > 0)
    expect(failures.map((e) => e.message)).toEqual(['disk: EFBIG: file too large'])
    // Said as what it is, a failed storage: not as an error escaping the engine (which would stop it too).
    expect(host.failureCause).toBe('storage')
    expect(sent).toEqual([])
  })
})

describe('ReplicaHost when its storage refuses a vote', () => {
  it('sends nothing after it: a message that follows a vote the disk never took must not leave', async () => {
    const at: { host?: ReplicaHost } = {}
    const leaked: unknown[] = []
    let sends = 0
    // r2 asks r1 to promise its ballot for view 2: r1 must write the promise (its vote) before it sends it.
    let handler: TransportHandler | undefined
    const transport: TransportFactory = (components) => ({
      self: components.self,
      start: async (h) => void (handler = h),
      send: (_to, message) => {
        sends++
        if (at.host?.failure) leaked.push(message)
      },
      sendToClient: () => {},
      stop: async () => {},
    })
    let votes = 0
    let full = false
    const refusing = refusingStorage((operation) => {
      if (!full || operation !== 'append') return undefined
      votes++
      return new LockstepError(ErrorCodes.STOPPED, 'disk: ENOSPC: no space left on device')
    })
    const failures: Error[] = []
    const host = (at.host = new ReplicaHost({ self: 'r1', replicas: ['r1', 'r2', 'r3'], machine: kv, orderer: lamport(), transport, storage: refusing, membership: {}, startAsMember: true, log: logger, onFailed: (error) => void failures.push(error) }))
    await host.start()
    full = true
    handler!.onPeerMessage('r2', encodePeerMessage({ kind: 'prepare', view: 2, ballot: { round: 1, coordinator: 'r2' } }))
    await until(() => failures.length > 0, () => `status ${host.engine.status}, view ${host.engine.view.id}, sends ${sends}, votes ${votes}`)
    expect(votes).toBeGreaterThan(0)
    expect(leaked).toEqual([])
  })
})

describe('ReplicaHost when its engine throws an unexpected error (a state machine whose snapshot breaks)', () => {
  /** A counter whose snapshot throws once its state holds a BigInt (from its 3rd command on): a user's bug. */
  const fragile: StateMachine<{ n: number; big: bigint | null }> = {
    name: 'fragile-counter',
    init: () => ({ n: 0, big: null }),
    apply: (state, _command, ctx) => {
      state.n += 1
      if (state.n === 3) state.big = 3n
      return [{ to: ctx.client, value: state.n }]
    },
    snapshot: (state) => new TextEncoder().encode(JSON.stringify(state)),
    restore: (bytes) => JSON.parse(new TextDecoder().decode(bytes)) as { n: number; big: null },
  }

  it('stops at once (fail-stop: it does not go on from a state it may have half changed), says why at error level naming the machine, and calls onFailed with the cause', async () => {
    const errors: { message: string; fields?: Record<string, unknown> }[] = []
    const log: Logger = { ...logger, error: (message: string, fields?: Record<string, unknown>) => void errors.push({ message, fields }) }
    let handler: TransportHandler | undefined
    const replies: unknown[] = []
    let transportStopped = false
    const transport: TransportFactory = (components) => ({
      self: components.self,
      start: async (h) => void (handler = h),
      send() {},
      sendToClient: (_to, message) => void replies.push(message),
      stop: async () => void (transportStopped = true),
    })
    const failures: { error: Error; cause: string }[] = []
    // Every delivery is a checkpoint: the state's digest (its snapshot) is taken after each command.
    const host = new ReplicaHost({ self: 'r1', replicas: ['r1'], machine: fragile, orderer: immediate, transport, membership: false, stateDigestEvery: 1, log, onFailed: (error, cause) => void failures.push({ error, cause }) })
    await host.start()
    const submit = (seq: number) => handler!.onClientMessage('c1', { type: 'request', request: { client: 'c1', seq, command: {} } })
    submit(1)
    submit(2)
    expect(host.failure).toBeUndefined()
    // The third command puts a BigInt in the state: JSON.stringify throws in snapshot, inside the delivery.
    expect(() => submit(3)).not.toThrow()
    expect(host.isRunning).toBe(false)
    await until(() => failures.length > 0)
    expect(failures).toHaveLength(1)
    expect(failures[0]!.cause).toBe('engine')
    expect(host.failure).toBe(failures[0]!.error)
    expect(host.failureCause).toBe('engine')
    expect(transportStopped).toBe(true)
    const said = errors.map((e) => e.message).join('\n')
    expect(said).toContain("replica 'r1' stopped")
    expect(said).toContain("machine 'fragile-counter' failed in snapshot")
    expect(said).toContain('Do not know how to serialize a BigInt')
    expect(said).toContain('position 3')
    expect(errors.some((e) => e.fields?.code === ErrorCodes.INTERNAL && typeof e.fields?.stack === 'string')).toBe(true)
    // Nothing more is handled or leaves once it stopped.
    const before = replies.length
    submit(4)
    expect(replies.length).toBe(before)
  })

  /** The counter again, its state written as chunks: `snapshotChunks` throws while the chunks are made (lazily). */
  const fragileChunks: StateMachine<{ n: number; big: bigint | null }> = {
    ...fragile,
    snapshotChunks: (state) => {
      const captured = { ...state }
      return { [Symbol.iterator]: () => [captured].map((s) => new TextEncoder().encode(JSON.stringify(s)))[Symbol.iterator]() }
    },
    restoreChunks: (chunks) => {
      for (const chunk of chunks) return JSON.parse(new TextDecoder().decode(chunk)) as { n: number; big: null }
      throw new Error('no chunk')
    },
  }

  it.each([
    ['snapshot', fragile],
    ['snapshotChunks', fragileChunks],
  ] as const)('a %s that throws for a snapshot of its disk stops it as an engine failure naming the machine, not as a failed disk', async (method, machine) => {
    const errors: string[] = []
    const log: Logger = { ...logger, error: (message: string) => void errors.push(message) }
    let handler: TransportHandler | undefined
    const transport: TransportFactory = (components) => ({ self: components.self, start: async (h) => void (handler = h), send() {}, sendToClient() {}, stop: async () => {} })
    const failures: { error: Error; cause: string }[] = []
    // No state digests: the disk's snapshots (after every 2 records) are what call the machine's snapshot.
    const host = new ReplicaHost({ self: 'r1', replicas: ['r1'], machine, orderer: lamport(), transport, storage: memoryStorage(), membership: {}, snapshotEvery: 2, stateDigestEvery: 0, log, onFailed: (error, cause) => void failures.push({ error, cause }) })
    await host.start()
    await until(() => host.engine.status === 'normal')
    for (let seq = 1; seq <= 6 && failures.length === 0; seq++) {
      handler!.onClientMessage('c1', { type: 'request', request: { client: 'c1', seq, command: {} } })
      await until(() => host.engine.position >= seq || failures.length > 0)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    await until(() => failures.length > 0, () => `position ${host.engine.position}, errors ${errors.join(' | ')}`)
    expect(failures.map((f) => f.cause)).toEqual(['engine'])
    expect(failures[0]!.error.message).toContain(`machine 'fragile-counter' failed in ${method}: Do not know how to serialize a BigInt`)
    expect(errors.join('\n')).toContain('a snapshot for its disk')
    expect(errors.join('\n')).not.toContain('storage failed')
  })
})

describe('a machine whose apply returns no list of outputs', () => {
  it.each([
    ['undefined', () => undefined, 'returned undefined'],
    ['an output, not a list of them', (ctx: { client: string }) => ({ to: ctx.client, value: 1 }), 'returned an object'],
    ['an output without its client', () => [{ value: 1 }], "returned output 0 without a client in 'to' (undefined)"],
  ] as const)('answers COMMAND_FAILED saying what apply returned (%s), and goes on', async (_what, result, said) => {
    let handler: TransportHandler | undefined
    const replies: { ok: boolean; error?: { code: string; message: string } }[] = []
    const transport: TransportFactory = (components) => ({
      self: components.self,
      start: async (h) => void (handler = h),
      send() {},
      sendToClient: (_to, message) => void replies.push((message as { reply: (typeof replies)[number] }).reply),
      stop: async () => {},
    })
    const careless: StateMachine<{ n: number }> = {
      name: 'careless',
      init: () => ({ n: 0 }),
      apply: (state, _command, ctx) => {
        state.n += 1
        return result(ctx) as never
      },
      snapshot: (state) => new TextEncoder().encode(JSON.stringify(state)),
      restore: (bytes) => JSON.parse(new TextDecoder().decode(bytes)) as { n: number },
    }
    const host = new ReplicaHost({ self: 'r1', replicas: ['r1'], machine: careless, orderer: immediate, transport, membership: false, log: logger })
    await host.start()
    handler!.onClientMessage('c1', { type: 'request', request: { client: 'c1', seq: 1, command: {} } })
    await until(() => replies.length > 0)
    expect(replies[0]).toMatchObject({ ok: false, error: { code: ErrorCodes.COMMAND_FAILED } })
    expect(replies[0]!.error!.message).toContain(`machine 'careless': apply ${said}`)
    expect(host.isRunning).toBe(true)
    await host.stop()
  })
})

describe("ReplicaHost and an operator's command", () => {
  it('passes a refusal (a LockstepError) on and goes on; an unexpected error stops the replica and is passed on too', async () => {
    const transport: TransportFactory = (components) => ({ self: components.self, start: async () => {}, send() {}, sendToClient() {}, stop: async () => {} })
    const failures: string[] = []
    const host = new ReplicaHost({ self: 'r1', replicas: ['r1', 'r2', 'r3'], machine: kv, orderer: lamport(), transport, membership: {}, startAsMember: true, log: logger, onFailed: (_error, cause) => void failures.push(cause) })
    await host.start()
    expect(() => host.removeReplica('r9')).toThrow(expect.objectContaining({ code: expect.any(String) }))
    expect(host.isRunning).toBe(true)
    expect(host.failure).toBeUndefined()
    // An engine that breaks halfway through the command (a bug).
    host.engine.admitReplica = () => {
      throw new TypeError('cannot read properties of undefined')
    }
    expect(() => host.admitReplica('r4')).toThrow('cannot read properties of undefined')
    expect(host.isRunning).toBe(false)
    expect(host.failureCause).toBe('engine')
    await until(() => failures.length > 0)
    expect(failures).toEqual(['engine'])
  })
})

/**
 * Memory storage whose `append` throws, and whose `sync` rejects, with the error `refusal` returns for the call
 * (none: the call goes through), as a file storage does once a write failed.
 */
function refusingStorage(refusal: (operation: 'append' | 'sync') => Error | undefined): StorageFactory {
  return (components) => {
    const inner = memoryStorage()(components)
    return new Proxy(inner, {
      get: (target, property) => {
        const value: unknown = Reflect.get(target, property, target)
        if (typeof value !== 'function') return value
        const method = (value as (...args: unknown[]) => unknown).bind(target)
        if (property !== 'append' && property !== 'sync') return method
        return (...args: unknown[]) => {
          const error = refusal(property)
          if (error === undefined) return method(...args)
          if (property === 'sync') return Promise.reject(error)
          throw error
        }
      },
    })
  }
}

/** Waits (real time, a few event-loop turns at a time) until `condition` holds; the guard turns a hang into a failure. */
async function until(condition: () => boolean, state: () => string = () => ''): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10))
  expect(condition(), state()).toBe(true)
}
