import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { compileOrThrow } from '@lockstep/dsl'
import { ErrorCodes, type LockstepError, type StateMachine } from '@lockstep/interface'
import { lamport } from '@lockstep/order-lamport'
import { SimCluster } from '@lockstep/testkit'
import { describe, expect, it } from 'vitest'
import { LockClient, type Grant } from '../src/index'

// Leases on virtual time: three replicas of specs/leased-mutex.sm in the simulator, clients whose LockClients
// run their renewals, polls and deadlines on the simulator's clock. Every run is deterministic (seeded delays).
const SPEC = fileURLToPath(new URL('../specs/leased-mutex.sm', import.meta.url))
const machine = compileOrThrow(readFileSync(SPEC, 'utf8'), { file: 'leased-mutex.sm' }).machine as StateMachine

const TTL_MS = 900
const HEARTBEAT_MS = TTL_MS / 3
/** Virtual message delays are 1–5 ms: a request, its ordering and the grant take a few hops. */
const NETWORK_SLACK_MS = 50

/** Agreed times (at r1) at which each client's commands ran, by command name. */
type Deliveries = { client: string; name: string; time: number }[]

async function leasedCluster(seed: number) {
  const deliveries: Deliveries = []
  const cluster = new SimCluster({
    machine,
    orderer: lamport(),
    replicas: 3,
    seed,
    observeReplica: (replica) => ({
      onDeliver: (_position, request, executed, time) => {
        if (replica === 'r1' && executed) deliveries.push({ client: request.client, name: (request.command as { name: string }).name, time })
      },
    }),
  })
  await cluster.start()
  const lockClient = async (id: string, replicas: readonly string[], options: Partial<ConstructorParameters<typeof LockClient>[1]> = {}) => {
    const client = await cluster.client(id, { replicas, retryAfterMs: 100 })
    const errors: string[] = []
    const lock = new LockClient(client, { ttlMs: TTL_MS, scheduler: cluster.scheduler, onError: (e) => errors.push(e.message), ...options })
    return { client, lock, errors }
  }
  const r1State = () => cluster.host('r1').engine.stateJSON() as { user: string | null; expires: number; waiting: string[]; token: number }
  return { cluster, deliveries, lockClient, r1State }
}

/** Settles `promise` into a value or an error, so a test can run the clock and look at it later. */
function outcome<T>(promise: Promise<T>): { value?: T; error?: unknown; settled: boolean } {
  const result: { value?: T; error?: unknown; settled: boolean } = { settled: false }
  promise.then(
    (value) => Object.assign(result, { value, settled: true }),
    (error: unknown) => Object.assign(result, { error, settled: true }),
  )
  return result
}

describe('leases in the simulator (virtual time)', () => {
  it('a holder whose client stops while holding loses the lock after its TTL; the waiter gets it within TTL + one heartbeat, with a higher token', async () => {
    const { cluster, deliveries, lockClient, r1State } = await leasedCluster(11)
    const holder = await lockClient('holder', ['r1', 'r2', 'r3'])
    const waiter = await lockClient('waiter', ['r2', 'r3', 'r1'])
    const first = await cluster.until(holder.lock.acquire())
    expect(first.token).toBe(1)
    const waiting = outcome(waiter.lock.acquire())

    // Renewed every heartbeat, the lease outlives many TTLs while the waiter polls.
    await cluster.runFor(5 * TTL_MS)
    expect(waiting.settled).toBe(false)
    expect(first.signal.aborted).toBe(false)
    expect(deliveries.filter((d) => d.client === 'holder' && d.name === 'renew').length).toBeGreaterThanOrEqual(14)
    expect(deliveries.filter((d) => d.client === 'waiter' && d.name === 'expire').length).toBeGreaterThanOrEqual(14)

    // The holder dies: its client stops, and nothing renews its lease any more.
    const stoppedAt = cluster.scheduler.now()
    await holder.client.stop()
    expect(await cluster.runUntil(() => waiting.settled, 10 * TTL_MS)).toBe(true)
    const grantedAt = cluster.scheduler.now()
    const second = waiting.value as Grant
    expect(waiting.error).toBeUndefined()
    expect(second.token).toBe(2)
    expect(second.token!).toBeGreaterThan(first.token!)

    // Not before the holder's lease ran out (in agreed time), and within TTL + one heartbeat of its death.
    const lastRenewal = deliveries.filter((d) => d.client === 'holder').at(-1)!
    const handOver = r1State()
    expect(handOver.user).toBe('waiter')
    expect(handOver.expires - TTL_MS).toBeGreaterThanOrEqual(lastRenewal.time + TTL_MS)
    expect(grantedAt - stoppedAt).toBeLessThanOrEqual(TTL_MS + HEARTBEAT_MS + NETWORK_SLACK_MS)

    // The new holder keeps it as long as it renews, and releases it.
    await cluster.runFor(3 * TTL_MS)
    expect(second.signal.aborted).toBe(false)
    // Handed over by another client's command, the grant is renewed at once: its holder cannot know when it began.
    const handOverTime = handOver.expires - TTL_MS
    const firstRenewal = deliveries.find((d) => d.client === 'waiter' && d.name === 'renew')!
    expect(firstRenewal.time - handOverTime).toBeLessThanOrEqual(NETWORK_SLACK_MS)
    await cluster.until(waiter.lock.release())
    expect(await cluster.runUntil(() => cluster.converged(), 5_000)).toBe(true)
    expect(r1State()).toMatchObject({ user: null, waiting: [], token: 2 })
    expect(waiter.errors).toEqual([])
    await cluster.stop()
  })

  it('a holder cut off from the replicas knows its lease is lost (signal, lost, onLost, withLock) no later than the next holder is granted', async () => {
    const { cluster, lockClient } = await leasedCluster(12)
    const lostAt: number[] = []
    const holder = await lockClient('holder', ['r1', 'r2', 'r3'], { onLost: () => lostAt.push(cluster.scheduler.now()) })
    const waiter = await lockClient('waiter', ['r2', 'r3', 'r1'])
    let signalAbortedAt: number | undefined
    let seen: Grant | undefined
    const critical = outcome(
      holder.lock.withLock(async (grant, signal) => {
        seen = grant
        signal.addEventListener('abort', () => (signalAbortedAt = cluster.scheduler.now()))
        // The work stops when the lease is lost.
        await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()))
        return 'done'
      }),
    )
    expect(await cluster.runUntil(() => seen !== undefined, 1_000)).toBe(true)
    const waiting = outcome(waiter.lock.acquire())
    await cluster.runFor(2 * TTL_MS)
    expect(waiting.settled).toBe(false)

    cluster.network.partition(['holder'], cluster.replicaIds) // its renewals wait on the cut links
    expect(await cluster.runUntil(() => waiting.settled, 10 * TTL_MS)).toBe(true)
    const grantedAt = cluster.scheduler.now()
    expect((waiting.value as Grant).token).toBe(2)
    expect(lostAt).toHaveLength(1)
    expect(lostAt[0]!).toBeLessThanOrEqual(grantedAt)
    expect(signalAbortedAt).toBe(lostAt[0])
    const reason = seen!.signal.reason as LockstepError
    expect(reason.code).toBe(ErrorCodes.LEASE_EXPIRED)
    expect(reason.message).toMatch(/the lease of fencing token 1 \(900 ms\) is lost: no renewal was confirmed within its 900 ms/)
    expect(await seen!.lost).toBe(reason)

    // withLock tells the holder its work was not protected to the end; its release is refused once the links heal.
    cluster.heal()
    expect(await cluster.runUntil(() => critical.settled, 5_000)).toBe(true)
    expect((critical.error as LockstepError).code).toBe(ErrorCodes.LEASE_EXPIRED)
    await cluster.until(waiter.lock.release())
    await cluster.stop()
  })

  it('a renewal that finds the lease over (a replica clock ran ahead and ended it early) aborts the grant', async () => {
    const { cluster, lockClient } = await leasedCluster(13)
    const holder = await lockClient('holder', ['r1', 'r2', 'r3'])
    const waiter = await lockClient('waiter', ['r2', 'r3', 'r1'])
    const first = await cluster.until(holder.lock.acquire())
    const waiting = outcome(waiter.lock.acquire())
    await cluster.runFor(TTL_MS)
    expect(waiting.settled).toBe(false)
    // r2's clock jumps ahead by two TTLs: the waiter's next expire, entering at r2, carries an agreed time past the lease.
    cluster.clock('r2').setOffset(2 * TTL_MS)
    expect(await cluster.runUntil(() => waiting.settled && first.signal.aborted, 5 * TTL_MS)).toBe(true)
    expect((waiting.value as Grant).token).toBe(2)
    const reason = first.signal.reason as LockstepError
    expect(reason.code).toBe(ErrorCodes.LEASE_EXPIRED)
    expect(reason.message).toMatch(/the lock service answered a renewal with (EXPIRED|NOT_HOLDER)/)
    await expect(cluster.until(holder.lock.release())).rejects.toMatchObject({ code: ErrorCodes.LEASE_EXPIRED })
    await cluster.until(waiter.lock.release())
    await cluster.stop()
  })

  it('an acquire given up (timeoutMs, signal) while queued rejects, and its late grant is released at once for the next waiter', async () => {
    const { cluster, deliveries, lockClient, r1State } = await leasedCluster(14)
    const holder = await lockClient('holder', ['r1', 'r2', 'r3'])
    const impatient = await lockClient('impatient', ['r2', 'r3', 'r1'])
    const aborted = await lockClient('aborted', ['r3', 'r1', 'r2'])
    const patient = await lockClient('patient', ['r1', 'r2', 'r3'])
    await cluster.until(holder.lock.acquire())
    const timedOut = outcome(impatient.lock.acquire({ timeoutMs: 500 }))
    await cluster.runFor(20)
    const controller = new AbortController()
    const abandoned = outcome(aborted.lock.acquire({ signal: controller.signal }))
    await cluster.runFor(20)
    const lastOne = outcome(patient.lock.acquire())
    await cluster.runFor(600)
    expect((timedOut.error as LockstepError).code).toBe(ErrorCodes.TIMEOUT)
    controller.abort(new Error('the caller changed its mind'))
    await cluster.runFor(10)
    expect((abandoned.error as LockstepError).code).toBe(ErrorCodes.ABORTED)
    expect(r1State().waiting).toEqual(['impatient', 'aborted', 'patient']) // the machine cannot drop a waiter

    await cluster.until(holder.lock.release())
    // Released at once, not left to run out: well within one lease of the holder's release.
    expect(await cluster.runUntil(() => lastOne.settled, TTL_MS / 2)).toBe(true)
    expect((lastOne.value as Grant).token).toBe(4) // 2 and 3 went to the abandoned acquires, which released them
    // (r1, whose deliveries are recorded, may deliver the last release a little after the replica that granted token 4)
    const releases = () => deliveries.filter((d) => d.name === 'release').map((d) => d.client)
    expect(await cluster.runUntil(() => releases().length >= 3, TTL_MS / 2)).toBe(true)
    expect(releases()).toEqual(['holder', 'impatient', 'aborted'])
    expect(impatient.errors).toEqual([])
    expect(aborted.errors).toEqual([])
    await cluster.until(patient.lock.release())
    await cluster.stop()
  })

  it('checks its options: ttlMs within the bounds, timeoutMs, heartbeatMs; the machine refuses what it cannot grant (BAD_TTL)', async () => {
    const { cluster, lockClient } = await leasedCluster(15)
    const { client, lock } = await lockClient('alice', ['r1', 'r2', 'r3'])
    expect(() => new LockClient(client, { ttlMs: 99 })).toThrow(/LockClient options: ttlMs must be a whole number of milliseconds from 100 to 600000, not 99/)
    expect(() => new LockClient(client, { heartbeatMs: 0 })).toThrow(/heartbeatMs must be a positive number of milliseconds, not 0/)
    await expect(lock.acquire({ ttlMs: 600_001 })).rejects.toMatchObject({ code: ErrorCodes.INVALID_ARGUMENT, message: expect.stringMatching(/acquire: ttlMs must be .* not 600001/) as unknown })
    await expect(lock.acquire({ timeoutMs: -1 })).rejects.toMatchObject({ code: ErrorCodes.INVALID_ARGUMENT })
    await expect(new LockClient(client, { leases: false }).acquire({ ttlMs: 1000 })).rejects.toMatchObject({ code: ErrorCodes.INVALID_ARGUMENT })
    // Without leases the leased mutex refuses the command (its ttl is required): said by the service, not hidden.
    await expect(cluster.until(new LockClient(client).acquire())).rejects.toMatchObject({ code: ErrorCodes.INVALID_COMMAND })
    const grant = await cluster.until(lock.acquire())
    await expect(lock.acquire()).rejects.toMatchObject({ code: ErrorCodes.COMMAND_FAILED, message: "acquire: 'alice' already holds the lock" })
    await cluster.until(lock.release())
    expect(grant.signal.aborted).toBe(false)
    await expect(cluster.until(lock.release())).rejects.toMatchObject({ code: ErrorCodes.COMMAND_FAILED, message: "release: 'alice' does not hold the lock" })
    await cluster.stop()
  })
})
