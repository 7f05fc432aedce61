import { ErrorCodes, LockstepError, isLockstepError, realScheduler, type Reply, type Scheduler, type TimerHandle } from '@lockstep/interface'
import type { LockstepClient, RequestOptions } from '@lockstep/client'

/** The shortest lease `specs/leased-mutex.sm` grants, in milliseconds of agreed time. */
export const MIN_TTL_MS = 100
/** The longest lease `specs/leased-mutex.sm` grants, in milliseconds of agreed time. */
export const MAX_TTL_MS = 600_000
/** The lease `specs/leased-mutex.sm` grants for `ttl: 0`, and LockClient's when `leases` is on without a `ttlMs`. */
export const DEFAULT_TTL_MS = 10_000

/** setTimeout's longest delay: a longer one fires at once. */
const MAX_TIMER_MS = 2_147_483_647

/** Options of {@link LockClient}. */
export interface LockClientOptions {
  /**
   * Speak the leased mutex's protocol (`specs/leased-mutex.sm`): every grant is a lease of `ttlMs` that this
   * client renews while it holds the lock, and a waiting client sends `expire` every heartbeat so that a dead
   * holder's lease ends. Default: true when `ttlMs` is given, else false (the seed's or the safe mutex, without
   * leases).
   */
  readonly leases?: boolean
  /** The lease of every acquire, in ms of agreed time ({@link MIN_TTL_MS}…{@link MAX_TTL_MS}). Default {@link DEFAULT_TTL_MS}. */
  readonly ttlMs?: number
  /** How often the holder renews and a waiter sends `expire`. Default: a third of the acquire's `ttlMs`. */
  readonly heartbeatMs?: number
  /** The clock and timers of renewals, polls and deadlines. Default: the real ones; the simulator passes its virtual scheduler. */
  readonly scheduler?: Scheduler
  /**
   * The lock's name, on a machine of many named locks (`specs/named-mutex.sm`): every command this client sends
   * names it (`args.lock`), and locks never affect one another. Absent: the machine is one lock (the seed's,
   * safe or leased mutex). Named locks have no leases yet, so it cannot be combined with `leases` or `ttlMs`.
   * One LockClient per LockstepClient still: grants come as the client's notices, which do not say which lock.
   */
  readonly lock?: string
  /** Called when a held lease is lost (its `grant.signal` aborts at the same moment). */
  readonly onLost?: (grant: Grant, error: LockstepError) => void
  /**
   * Errors of background work that has no caller to throw to: a renewal or poll refused for an unexpected
   * reason, the release of a grant that came after its acquire was abandoned. Default: printed to stderr.
   */
  readonly onError?: (error: Error) => void
}

/** Options of {@link LockClient.acquire} and {@link LockClient.withLock}. */
export interface AcquireOptions {
  /** This acquire's lease (leases only). Default: the client's `ttlMs`. */
  readonly ttlMs?: number
  /** Give up waiting when it aborts: the acquire rejects with ABORTED (see {@link LockClient.acquire}). */
  readonly signal?: AbortSignal
  /** Give up waiting after this long (queued time included): the acquire rejects with TIMEOUT. */
  readonly timeoutMs?: number
}

/** A grant of the lock. */
export interface Grant {
  /** The fencing token when the machine issues them (safe and leased mutex), else undefined (the seed's mutex). */
  readonly token: number | undefined
  /** The lease, in ms of agreed time; undefined without leases. */
  readonly ttlMs: number | undefined
  /** Aborts, with a LEASE_EXPIRED error as its reason, when the lease is lost; never without leases. */
  readonly signal: AbortSignal
  /** Resolves with the LEASE_EXPIRED error when the lease is lost; stays pending when it is released in time. */
  readonly lost: Promise<LockstepError>
}

/** True for an output that grants the lock: the seed mutex's `OK`, or a fencing token. */
function isGrant(value: unknown): boolean {
  return value === 'OK' || typeof value === 'number'
}

function tokenOf(value: unknown): number | undefined {
  return typeof value === 'number' ? value : undefined
}

/** A grant this client holds, and the timers that keep its lease. */
class HeldLease implements Grant {
  readonly signal: AbortSignal
  readonly lost: Promise<LockstepError>
  readonly controller = new AbortController()
  resolveLost!: (error: LockstepError) => void
  /** Scheduler time after which the lease may have run out, unless a renewal sent before it is confirmed. */
  deadline = Infinity
  renewTimer: TimerHandle | undefined
  deadlineTimer: TimerHandle | undefined
  /** Lost, or released: no more renewals. */
  over = false
  lostError: LockstepError | undefined

  constructor(
    readonly token: number | undefined,
    readonly ttlMs: number | undefined,
    readonly heartbeatMs: number,
  ) {
    this.signal = this.controller.signal
    this.lost = new Promise<LockstepError>((resolve) => (this.resolveLost = resolve))
  }
}

/** An acquire waiting for its grant. */
interface GrantWaiter {
  readonly deliver: (value: unknown) => void
  readonly fail: (error: Error) => void
}

/**
 * The lock service's client, one per client id (it holds at most one grant at a time).
 *
 * `acquire()` resolves exactly when this client is granted the lock — at once if it was free, or later when
 * the holder's release (or the end of its lease) hands it over. It works with the seed's mutex (grants are
 * `OK`), the safe mutex of `specs/safe-mutex.sm` (grants carry a fencing token that grows with every grant;
 * only the holder may release), and, with `leases` (or a `ttlMs`), the leased mutex of
 * `specs/leased-mutex.sm`: every grant is a lease of `ttlMs` of agreed time, renewed by this client every
 * heartbeat while it holds the lock; a holder that dies loses the lock once its lease runs out, and the next
 * waiter gets it with a higher fencing token. Time passes for the machine only with commands, so while this
 * client waits it sends `expire` every heartbeat: that is what ends a dead holder's lease.
 */
export class LockClient {
  private readonly scheduler: Scheduler
  private readonly report: (error: Error) => void
  private held: HeldLease | undefined
  private waiter: GrantWaiter | undefined
  private acquiring = false
  /** An acquire was given up after it may have queued: a grant that comes with nobody waiting is released at once. */
  private abandoned = false
  /** A nextNotice for grants is pending (it also makes the client fetch notices it may have missed). */
  private grantNoticeArmed = false

  constructor(
    readonly client: LockstepClient,
    private readonly options: LockClientOptions = {},
  ) {
    this.scheduler = options.scheduler ?? realScheduler()
    this.report = options.onError ?? ((error) => console.error(`lock client '${client.id}': ${error.message}`))
    if (options.ttlMs !== undefined) checkTtl(options.ttlMs, 'LockClient options')
    if (options.lock !== undefined) {
      if (typeof options.lock !== 'string' || options.lock.length === 0) throw new LockstepError(ErrorCodes.INVALID_ARGUMENT, `LockClient options: lock must be a non-empty string (the lock's name), not ${JSON.stringify(options.lock)}`)
      if (options.leases === true || options.ttlMs !== undefined) {
        throw new LockstepError(ErrorCodes.INVALID_ARGUMENT, `LockClient options: named locks (lock '${options.lock}', specs/named-mutex.sm) have no leases yet; leave out leases and ttlMs`)
      }
    }
    if (options.heartbeatMs !== undefined && !(Number.isFinite(options.heartbeatMs) && options.heartbeatMs > 0 && options.heartbeatMs <= MAX_TIMER_MS)) {
      throw new LockstepError(ErrorCodes.INVALID_ARGUMENT, `LockClient options: heartbeatMs must be a positive number of milliseconds, not ${String(options.heartbeatMs)}`)
    }
    // A lease that ran out is announced to its holder (EXPIRED): check it at once instead of at the next renewal.
    client.onNotice((notice) => {
      if (notice.value !== 'EXPIRED') return
      client.nextNotice((n) => n === notice).catch(() => {}) // take it off the client's queue of notices
      const lease = this.held
      if (lease !== undefined && !lease.over && lease.ttlMs !== undefined) this.renew(lease)
    })
  }

  /** True while this client holds a grant it has not released (and, with leases, has not lost). */
  get holding(): boolean {
    return this.held !== undefined && !this.held.over
  }

  /**
   * Resolves with the grant when the lock is this client's. Rejects with TIMEOUT (`timeoutMs`) or ABORTED
   * (`signal`) when it gives up first: the request may still have queued this client, so a grant that comes
   * later is released at once (with leases, a grant nobody releases ends with its lease anyway).
   * INVALID_ARGUMENT for a `ttlMs` out of bounds; COMMAND_FAILED when this client holds the lock already or
   * another acquire of it is waiting.
   */
  async acquire(options: AcquireOptions = {}): Promise<Grant> {
    const leased = this.options.leases ?? (this.options.ttlMs !== undefined || options.ttlMs !== undefined)
    const ttlMs = leased ? (options.ttlMs ?? this.options.ttlMs ?? DEFAULT_TTL_MS) : undefined
    if (this.options.lock !== undefined && options.ttlMs !== undefined) {
      throw new LockstepError(ErrorCodes.INVALID_ARGUMENT, `acquire: named locks (lock '${this.options.lock}') have no leases yet; leave out ttlMs`)
    }
    if (ttlMs !== undefined) checkTtl(ttlMs, 'acquire')
    if (!leased && options.ttlMs !== undefined) {
      throw new LockstepError(ErrorCodes.INVALID_ARGUMENT, `acquire: ttlMs needs leases, but this LockClient was created with leases: false`)
    }
    const { signal, timeoutMs } = options
    if (timeoutMs !== undefined && !(Number.isFinite(timeoutMs) && timeoutMs > 0 && timeoutMs <= MAX_TIMER_MS)) {
      throw new LockstepError(ErrorCodes.INVALID_ARGUMENT, `acquire: timeoutMs must be a number of milliseconds from 1 to ${MAX_TIMER_MS}, not ${String(timeoutMs)}`)
    }
    if (this.holding) throw new LockstepError(ErrorCodes.COMMAND_FAILED, `acquire: '${this.client.id}' already holds the lock`)
    if (this.acquiring) throw new LockstepError(ErrorCodes.COMMAND_FAILED, `acquire: '${this.client.id}' is already waiting for the lock (one acquire at a time)`)
    if (signal?.aborted) throw new LockstepError(ErrorCodes.ABORTED, `acquire by '${this.client.id}' was abandoned before it was sent (its signal had aborted)`, undefined, { cause: signal.reason })
    this.acquiring = true
    const heartbeatMs = this.options.heartbeatMs ?? (ttlMs === undefined ? 0 : ttlMs / 3)
    const startedAt = this.scheduler.now()
    // Listening before the request goes out: a grant may be announced before the acquire's own reply arrives.
    let granted: (value: unknown) => void = () => {}
    let failed: (error: Error) => void = () => {}
    const grant = new Promise<unknown>((resolve, reject) => {
      granted = resolve
      failed = reject
    })
    grant.catch(() => {}) // observed below when it matters; a failure before then is the acquire's own
    this.waiter = { deliver: granted, fail: failed }
    let polling: AbortController | undefined
    let deadline: TimerHandle | undefined
    let forgetSignal: (() => void) | undefined
    try {
      const command = this.command('acquire', ttlMs === undefined ? undefined : { ttl: ttlMs })
      let reply: Reply
      try {
        reply = await this.client.submit(command, { signal, timeoutMs })
      } catch (error) {
        if (isLockstepError(error) && (error.code === ErrorCodes.TIMEOUT || error.code === ErrorCodes.ABORTED)) {
          // It may have queued this client all the same: a grant that comes later is released at once.
          this.abandoned = true
          this.armGrantNotice()
        }
        throw error
      }
      if (!reply.ok) throw new LockstepError(reply.error.code, `acquire by '${this.client.id}' failed: ${reply.error.message}`)
      const values = reply.outputs.map((o) => o.value)
      if (values.includes('BAD_TTL')) throw new LockstepError(ErrorCodes.INVALID_ARGUMENT, `acquire: the lock service refused a lease of ${ttlMs} ms (BAD_TTL)`)
      if (values.includes('HELD')) throw new LockstepError(ErrorCodes.COMMAND_FAILED, `acquire: '${this.client.id}' already holds the lock`)
      const immediate = values.find(isGrant)
      if (immediate !== undefined) {
        this.waiter = undefined
        return this.hold(immediate, ttlMs, heartbeatMs, startedAt)
      }
      // Queued (or already queued: QUEUED): the grant arrives when the holder releases or its lease ends. A notice
      // that came before this reply waits in the client's queue, where the armed nextNotice finds it.
      this.armGrantNotice()
      if (ttlMs !== undefined) polling = this.pollWhileWaiting(heartbeatMs)
      if (timeoutMs !== undefined) {
        const remainingMs = Math.max(0, startedAt + timeoutMs - this.scheduler.now())
        deadline = this.scheduler.setTimer(remainingMs, () =>
          failed(new LockstepError(ErrorCodes.TIMEOUT, `acquire by '${this.client.id}': not granted within ${timeoutMs} ms (timeoutMs); it was queued, and a later grant is released at once`)),
        )
      }
      if (signal !== undefined) {
        const onAbort = () => failed(new LockstepError(ErrorCodes.ABORTED, `acquire by '${this.client.id}' was abandoned (its signal aborted) while queued; a later grant is released at once`, undefined, { cause: signal.reason }))
        signal.addEventListener('abort', onAbort, { once: true })
        forgetSignal = () => signal.removeEventListener('abort', onAbort)
      }
      let value: unknown
      try {
        value = await grant
      } catch (error) {
        if (isLockstepError(error) && (error.code === ErrorCodes.TIMEOUT || error.code === ErrorCodes.ABORTED)) this.abandoned = true
        throw error
      }
      // Granted by someone else's command: when its lease started is not known here, so renew at once.
      return this.hold(value, ttlMs, heartbeatMs, undefined)
    } finally {
      this.waiter = undefined
      this.acquiring = false
      polling?.abort()
      if (deadline !== undefined) this.scheduler.clearTimer(deadline)
      forgetSignal?.()
    }
  }

  /**
   * Releases the lock. Rejects with LEASE_EXPIRED when the lease had run out (the lock was no longer this
   * client's, or passed on at this very release), and with COMMAND_FAILED when this client did not hold it.
   */
  async release(options: RequestOptions = {}): Promise<void> {
    const lease = this.held
    this.held = undefined
    if (lease !== undefined) this.stopLease(lease)
    const reply = await this.client.submit(this.command('release'), options)
    if (!reply.ok) throw new LockstepError(reply.error.code ?? ErrorCodes.COMMAND_FAILED, `release by '${this.client.id}' failed: ${reply.error.message}`)
    const values = reply.outputs.map((o) => o.value)
    // A release by a waiter can end another holder's lease and make it the holder: that is a grant.
    for (const value of values) if (typeof value === 'number') this.onGrant(value)
    if (values.includes('OK')) return
    if (lease?.ttlMs !== undefined && (values.includes('EXPIRED') || values.includes('NOT_HOLDER'))) {
      const error = lease.lostError ?? this.leaseError(lease, `the lock service answered the release with ${values.includes('EXPIRED') ? 'EXPIRED: the lease had run out' : 'NOT_HOLDER: the lock had passed to another holder'}`)
      this.lose(lease, error)
      throw error
    }
    if (values.includes('NOT_HOLDER') || values.includes('EXPIRED')) {
      throw new LockstepError(ErrorCodes.COMMAND_FAILED, `release: '${this.client.id}' does not hold the lock`)
    }
  }

  /**
   * Runs `fn` while holding the lock and releases it after. `fn` gets the grant (use its token to fence writes)
   * and, with leases, a signal that aborts when the lease is lost: stop the work then. When the lease was lost,
   * `withLock` rejects with LEASE_EXPIRED (whatever `fn` returned: its work may have overlapped the next holder's).
   */
  async withLock<T>(fn: (grant: Grant, signal: AbortSignal) => Promise<T> | T, options: AcquireOptions = {}): Promise<T> {
    const grant = await this.acquire(options)
    let outcome: { ok: true; value: T } | { ok: false; error: unknown }
    try {
      outcome = { ok: true, value: await fn(grant, grant.signal) }
    } catch (error) {
      outcome = { ok: false, error }
    }
    let releaseError: unknown
    try {
      await this.release()
    } catch (error) {
      releaseError = error
    }
    if (grant.signal.aborted) {
      const lost = grant.signal.reason as LockstepError
      if (outcome.ok || outcome.error === lost) throw lost
      throw new LockstepError(ErrorCodes.LEASE_EXPIRED, `${lost.message}; the critical section failed as well: ${describe(outcome.error)}`, lost.details, { cause: outcome.error })
    }
    if (!outcome.ok) {
      if (releaseError !== undefined) this.report(new LockstepError(ErrorCodes.COMMAND_FAILED, `release by '${this.client.id}' after a failed critical section failed too: ${describe(releaseError)}`, undefined, { cause: releaseError }))
      throw outcome.error
    }
    if (releaseError !== undefined) throw releaseError
    return outcome.value
  }

  /** Starts holding a grant; `sentAt` is when the request that got it was sent (undefined: granted by someone else's command). */
  private hold(value: unknown, ttlMs: number | undefined, heartbeatMs: number, sentAt: number | undefined): Grant {
    this.abandoned = false
    const lease = new HeldLease(tokenOf(value), ttlMs, heartbeatMs)
    this.held = lease
    if (ttlMs === undefined) return lease
    // The lease started when the request that got it entered the cluster: after sentAt, so sentAt + ttl is safe.
    // A grant handed over by another command started at a time not known here: renew at once to learn a safe one.
    this.extend(lease, (sentAt ?? this.scheduler.now()) + ttlMs)
    if (sentAt === undefined) this.renew(lease)
    else lease.renewTimer = this.scheduler.setTimer(heartbeatMs, () => this.renew(lease))
    return lease
  }

  /** Moves the lease's local deadline; when it passes without a confirmed renewal, the lease counts as lost. */
  private extend(lease: HeldLease, deadline: number): void {
    lease.deadline = deadline
    if (lease.deadlineTimer !== undefined) this.scheduler.clearTimer(lease.deadlineTimer)
    lease.deadlineTimer = this.scheduler.setTimer(Math.max(0, deadline - this.scheduler.now()), () => {
      lease.deadlineTimer = undefined
      this.lose(lease, this.leaseError(lease, `no renewal was confirmed within its ${lease.ttlMs} ms`))
    })
  }

  /** Sends one renewal; its answer extends the lease, ends it, or (no answer) leaves it to its deadline. */
  private renew(lease: HeldLease): void {
    if (lease.over || this.held !== lease) return
    if (lease.renewTimer !== undefined) this.scheduler.clearTimer(lease.renewTimer)
    lease.renewTimer = undefined
    const sentAt = this.scheduler.now()
    const remainingMs = lease.deadline - sentAt
    // Past the deadline (the timers ran late: a paused process): the lease may be over, say so now.
    if (!(remainingMs > 0)) return this.lose(lease, this.leaseError(lease, `no renewal was confirmed within its ${lease.ttlMs} ms`))
    const next = () => {
      if (!lease.over && this.held === lease && lease.renewTimer === undefined) lease.renewTimer = this.scheduler.setTimer(lease.heartbeatMs, () => this.renew(lease))
    }
    this.client
      .submit(this.command('renew', { ttl: lease.ttlMs }), { timeoutMs: Math.min(remainingMs, MAX_TIMER_MS), signal: lease.signal })
      .then((reply) => {
        if (lease.over || this.held !== lease) return
        if (!reply.ok) {
          this.report(new LockstepError(reply.error.code, `renewal of the lease of fencing token ${lease.token} failed: ${reply.error.message}; trying again in ${lease.heartbeatMs} ms`))
          return next()
        }
        const values = reply.outputs.map((o) => o.value)
        if (values.includes('OK')) {
          this.extend(lease, sentAt + lease.ttlMs!)
          return next()
        }
        const answer = values.includes('EXPIRED') ? 'EXPIRED: the lease had run out' : values.includes('NOT_HOLDER') ? 'NOT_HOLDER: the lock had passed to another holder' : `${JSON.stringify(values)}`
        this.lose(lease, this.leaseError(lease, `the lock service answered a renewal with ${answer}`))
        for (const value of values) if (typeof value === 'number') this.onGrant(value)
      })
      .catch((error: unknown) => {
        if (lease.over || this.held !== lease) return
        if (isLockstepError(error) && error.code === ErrorCodes.STOPPED) {
          return this.lose(lease, this.leaseError(lease, `the client stopped while holding it`))
        }
        // TIMEOUT: no answer before the deadline, whose timer says so. Anything else: said, and tried again.
        if (!(isLockstepError(error) && error.code === ErrorCodes.TIMEOUT)) this.report(error as Error)
        next()
      })
  }

  /** Ends a lease that is lost: aborts its signal, resolves `lost`, tells `onLost`. */
  private lose(lease: HeldLease, error: LockstepError): void {
    if (lease.over) return
    this.stopLease(lease)
    lease.lostError = error
    lease.controller.abort(error)
    lease.resolveLost(error)
    try {
      this.options.onLost?.(lease, error)
    } catch (thrown) {
      this.report(new LockstepError(ErrorCodes.INTERNAL, `lock client '${this.client.id}': onLost threw: ${describe(thrown)}`, undefined, { cause: thrown }))
    }
  }

  private stopLease(lease: HeldLease): void {
    lease.over = true
    if (lease.renewTimer !== undefined) this.scheduler.clearTimer(lease.renewTimer)
    if (lease.deadlineTimer !== undefined) this.scheduler.clearTimer(lease.deadlineTimer)
    lease.renewTimer = lease.deadlineTimer = undefined
  }

  private leaseError(lease: HeldLease, why: string): LockstepError {
    return new LockstepError(
      ErrorCodes.LEASE_EXPIRED,
      `lock client '${this.client.id}': the lease of fencing token ${lease.token} (${lease.ttlMs} ms) is lost: ${why}; the lock may have passed to another holder, with a higher fencing token`,
      { token: lease.token, ttlMs: lease.ttlMs },
    )
  }

  /** A grant arrived (a notice, or the reply of a poll or release): to the waiting acquire, or released at once. */
  private onGrant(value: unknown): void {
    const waiter = this.waiter
    if (waiter !== undefined) {
      this.waiter = undefined
      waiter.deliver(value)
      return
    }
    const expected = this.abandoned
    this.abandoned = false
    if (!expected) this.report(new LockstepError(ErrorCodes.INTERNAL, `lock client '${this.client.id}': a grant (${JSON.stringify(value)}) came with no acquire waiting for it; releasing it`))
    this.client
      .submit(this.command('release'))
      .then((reply) => {
        if (!reply.ok) this.report(new LockstepError(reply.error.code, `release of a grant nobody waited for failed: ${reply.error.message}`))
        else for (const v of reply.outputs.map((o) => o.value)) if (typeof v === 'number') this.onGrant(v)
      })
      .catch((error: unknown) => {
        if (!(isLockstepError(error) && error.code === ErrorCodes.STOPPED)) this.report(error as Error)
      })
  }

  /** A command of the lock's machine; with a named lock, its name goes in the arguments. */
  private command(name: string, args?: Record<string, unknown>): { name: string; args?: Record<string, unknown> } {
    const lock = this.options.lock
    if (lock !== undefined) return { name, args: { ...args, lock } }
    return args === undefined ? { name } : { name, args }
  }

  /** Waits (through the client's notices, which it then also fetches if missed) for a grant handed over by another command. */
  private armGrantNotice(): void {
    if (this.grantNoticeArmed) return
    this.grantNoticeArmed = true
    this.client.nextNotice((notice) => isGrant(notice.value)).then(
      (notice) => {
        this.grantNoticeArmed = false
        this.onGrant(notice.value)
        if (this.waiter !== undefined || this.abandoned) this.armGrantNotice()
      },
      (error: unknown) => {
        this.grantNoticeArmed = false
        if (!(isLockstepError(error) && error.code === ErrorCodes.STOPPED)) this.report(error as Error)
        this.waiter?.fail(error as Error)
      },
    )
  }

  /** While queued with leases: an `expire` every heartbeat, which ends a dead holder's lease (and may grant it to this client). */
  private pollWhileWaiting(heartbeatMs: number): AbortController {
    const stop = new AbortController()
    const poll = () => {
      if (stop.signal.aborted) return
      this.client
        .submit(this.command('expire'), { signal: stop.signal })
        .then(
          (reply) => {
            if (!reply.ok) this.report(new LockstepError(reply.error.code, `expire (a waiter's heartbeat) failed: ${reply.error.message}`))
            else for (const value of reply.outputs.map((o) => o.value)) if (isGrant(value)) this.onGrant(value)
            schedule()
          },
          (error: unknown) => {
            if (stop.signal.aborted) return
            if (isLockstepError(error) && error.code === ErrorCodes.STOPPED) return this.waiter?.fail(error)
            if (!(isLockstepError(error) && error.code === ErrorCodes.TIMEOUT)) this.report(error as Error)
            schedule()
          },
        )
        .catch((error: unknown) => this.report(error as Error))
    }
    let timer: TimerHandle | undefined
    const schedule = () => {
      if (!stop.signal.aborted) timer = this.scheduler.setTimer(heartbeatMs, poll)
    }
    stop.signal.addEventListener('abort', () => timer !== undefined && this.scheduler.clearTimer(timer), { once: true })
    schedule()
    return stop
  }
}

function checkTtl(ttlMs: number, where: string): void {
  if (!Number.isInteger(ttlMs) || ttlMs < MIN_TTL_MS || ttlMs > MAX_TTL_MS) {
    throw new LockstepError(ErrorCodes.INVALID_ARGUMENT, `${where}: ttlMs must be a whole number of milliseconds from ${MIN_TTL_MS} to ${MAX_TTL_MS}, not ${String(ttlMs)}`)
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
