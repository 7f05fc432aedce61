import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { compileOrThrow, modelCheck } from '@lockstep/dsl'
import type { Output, StateMachine } from '@lockstep/interface'
import { describe, expect, it } from 'vitest'
import { DEFAULT_TTL_MS, MAX_TTL_MS, MIN_TTL_MS } from '../src/index'

const SPEC = fileURLToPath(new URL('../specs/leased-mutex.sm', import.meta.url))
const source = readFileSync(SPEC, 'utf8')

/** One machine, driven command by command at given agreed times. */
class Lock {
  readonly machine: StateMachine = compileOrThrow(source, { file: 'leased-mutex.sm' }).machine as StateMachine
  private state: unknown = this.machine.init()
  private position = 0

  /** Runs `client name args` at agreed time `time`; returns its outputs as `to:value`. */
  run(time: number, client: string, name: string, args?: Record<string, unknown>): string[] {
    const outputs: Output[] = this.machine.apply(this.state, args === undefined ? { name } : { name, args }, { client, position: ++this.position, time })
    return outputs.map((o) => `${o.to}:${String(o.value)}`)
  }

  get json(): { user: string | null; expires: number; waiting: string[]; ttls: Record<string, number>; token: number } {
    return this.machine.toJSON!(this.state) as never
  }
}

describe('the leased mutex (specs/leased-mutex.sm)', () => {
  it('grants a lease of ttl ms of agreed time; once it ran out, the next command passes the lock to the next waiter with a higher token', () => {
    const lock = new Lock()
    expect(lock.run(1000, 'a', 'acquire', { ttl: 500 })).toEqual(['a:1'])
    expect(lock.json).toMatchObject({ user: 'a', expires: 1500, token: 1 })
    expect(lock.run(1001, 'b', 'acquire', { ttl: 300 })).toEqual([]) // queued
    expect(lock.run(1499, 'b', 'expire')).toEqual([]) // a's lease still runs
    expect(lock.json.user).toBe('a')
    // Time passes only with commands: the first one at or after 1500 ends a's lease.
    expect(lock.run(1500, 'b', 'expire')).toEqual(['a:EXPIRED', 'b:2'])
    expect(lock.json).toMatchObject({ user: 'b', expires: 1800, waiting: [], ttls: {}, token: 2 })
    // a comes back too late: its renewal and release are refused, and do not bring the lock back.
    expect(lock.run(1600, 'a', 'renew', { ttl: 500 })).toEqual(['a:NOT_HOLDER'])
    expect(lock.run(1601, 'a', 'release')).toEqual(['a:NOT_HOLDER'])
    expect(lock.json).toMatchObject({ user: 'b', token: 2 })
  })

  it('any command ends a lease that ran out: acquire, release and renew of other clients, and expire', () => {
    for (const [client, name, args, outputs] of [
      ['c', 'acquire', { ttl: 100 }, ['a:EXPIRED', 'b:2']], // c queues behind b
      ['c', 'release', undefined, ['a:EXPIRED', 'b:2', 'c:NOT_HOLDER']],
      ['c', 'renew', { ttl: 100 }, ['a:EXPIRED', 'b:2', 'c:NOT_HOLDER']],
      ['c', 'expire', undefined, ['a:EXPIRED', 'b:2']],
      ['b', 'expire', undefined, ['a:EXPIRED', 'b:2']],
      ['b', 'release', undefined, ['a:EXPIRED', 'b:2']], // b is the holder after that
    ] as const) {
      const lock = new Lock()
      lock.run(0, 'a', 'acquire', { ttl: 100 })
      lock.run(1, 'b', 'acquire', { ttl: 200 })
      expect(lock.run(100, client, name, args), `${client} ${name}`).toEqual(outputs)
      expect(lock.json, `${client} ${name}`).toMatchObject({ user: 'b', expires: 300, token: 2 })
    }
  })

  it('a lease that ran out with nobody waiting frees the lock, or goes to the acquirer with the next token', () => {
    const freed = new Lock()
    freed.run(0, 'a', 'acquire', { ttl: 100 })
    expect(freed.run(150, 'b', 'expire')).toEqual(['a:EXPIRED'])
    expect(freed.json).toMatchObject({ user: null, expires: 0, token: 1 })
    expect(freed.run(151, 'b', 'acquire', { ttl: 100 })).toEqual(['b:2'])

    const taken = new Lock()
    taken.run(0, 'a', 'acquire', { ttl: 100 })
    expect(taken.run(100, 'b', 'acquire', { ttl: 100 })).toEqual(['a:EXPIRED', 'b:2'])
    // The holder itself, too late: its lease is over and it gets a new one, with a new token.
    expect(taken.run(200, 'b', 'acquire', { ttl: 100 })).toEqual(['b:EXPIRED', 'b:3'])
  })

  it('renew by the holder extends its lease to now + ttl', () => {
    const lock = new Lock()
    lock.run(0, 'a', 'acquire', { ttl: 300 })
    lock.run(1, 'b', 'acquire', { ttl: 300 })
    expect(lock.run(200, 'a', 'renew', { ttl: 300 })).toEqual(['a:OK'])
    expect(lock.json.expires).toBe(500)
    expect(lock.run(300, 'b', 'expire')).toEqual([]) // past the first lease, within the renewed one
    expect(lock.run(499, 'b', 'expire')).toEqual([])
    expect(lock.json).toMatchObject({ user: 'a', token: 1 })
    expect(lock.run(500, 'b', 'expire')).toEqual(['a:EXPIRED', 'b:2'])
  })

  it('refuses a renewal by a non-holder (NOT_HOLDER) and one after the lease ran out (EXPIRED), changing nothing else', () => {
    const lock = new Lock()
    lock.run(0, 'a', 'acquire', { ttl: 300 })
    lock.run(1, 'b', 'acquire', { ttl: 300 })
    const before = lock.json
    expect(lock.run(100, 'b', 'renew', { ttl: 300 })).toEqual(['b:NOT_HOLDER'])
    expect(lock.run(100, 'c', 'renew', { ttl: 300 })).toEqual(['c:NOT_HOLDER'])
    expect(lock.json).toEqual(before)
    // The holder renews too late: the lease is over (b gets the lock), and the renewal does not bring it back.
    expect(lock.run(300, 'a', 'renew', { ttl: 300 })).toEqual(['a:EXPIRED', 'b:2'])
    expect(lock.json).toMatchObject({ user: 'b', expires: 600, token: 2 })
    // With nobody waiting, a late renewal frees the lock.
    expect(lock.run(600, 'b', 'renew', { ttl: 300 })).toEqual(['b:EXPIRED'])
    expect(lock.json).toMatchObject({ user: null, token: 2 })
  })

  it('a release after the lease ran out is answered EXPIRED', () => {
    const lock = new Lock()
    lock.run(0, 'a', 'acquire', { ttl: 100 })
    expect(lock.run(100, 'a', 'release')).toEqual(['a:EXPIRED'])
    expect(lock.json).toMatchObject({ user: null, token: 1 })
  })

  it('a waiter keeps the lease it asked for until its grant: the lease runs from the grant', () => {
    const lock = new Lock()
    lock.run(0, 'a', 'acquire', { ttl: 100 })
    lock.run(10, 'b', 'acquire', { ttl: 5000 })
    lock.run(20, 'c', 'acquire', { ttl: 0 })
    expect(lock.json.ttls).toEqual({ b: 5000, c: DEFAULT_TTL_MS })
    expect(lock.run(50, 'a', 'release')).toEqual(['a:OK', 'b:2'])
    expect(lock.json).toMatchObject({ user: 'b', expires: 5050, waiting: ['c'], ttls: { c: DEFAULT_TTL_MS } })
    expect(lock.run(5050, 'c', 'expire')).toEqual(['b:EXPIRED', 'c:3'])
    expect(lock.json).toMatchObject({ user: 'c', expires: 5050 + DEFAULT_TTL_MS, waiting: [], ttls: {} })
  })

  it('takes ttl from the arguments: 0 is the default, and the bounds match LockClient (others: BAD_TTL, nothing changes)', () => {
    expect([MIN_TTL_MS, MAX_TTL_MS, DEFAULT_TTL_MS]).toEqual([100, 600_000, 10_000])
    const lock = new Lock()
    for (const ttl of [MIN_TTL_MS - 1, MAX_TTL_MS + 1, -5]) {
      expect(lock.run(0, 'a', 'acquire', { ttl })).toEqual(['a:BAD_TTL'])
      expect(lock.json).toMatchObject({ user: null, token: 0 })
    }
    expect(lock.run(0, 'a', 'acquire', { ttl: 0 })).toEqual(['a:1'])
    expect(lock.json.expires).toBe(DEFAULT_TTL_MS)
    expect(lock.run(5, 'a', 'renew', { ttl: MAX_TTL_MS + 1 })).toEqual(['a:BAD_TTL'])
    expect(lock.run(5, 'a', 'renew', { ttl: MAX_TTL_MS })).toEqual(['a:OK'])
    expect(lock.json.expires).toBe(5 + MAX_TTL_MS)
    expect(lock.run(6, 'a', 'renew', { ttl: MIN_TTL_MS })).toEqual(['a:OK'])
    expect(lock.json.expires).toBe(6 + MIN_TTL_MS)
    expect(lock.run(7, 'a', 'renew', { ttl: 0 })).toEqual(['a:OK'])
    expect(lock.json.expires).toBe(7 + DEFAULT_TTL_MS)
  })

  it('keeps the safe mutex behaviour while the lease runs: HELD, QUEUED, NOT_HOLDER, hand-over on release', () => {
    const lock = new Lock()
    lock.run(0, 'a', 'acquire', { ttl: 1000 })
    expect(lock.run(1, 'a', 'acquire', { ttl: 1000 })).toEqual(['a:HELD'])
    expect(lock.run(2, 'b', 'acquire', { ttl: 1000 })).toEqual([])
    expect(lock.run(3, 'b', 'acquire', { ttl: 1000 })).toEqual(['b:QUEUED'])
    expect(lock.run(4, 'b', 'release')).toEqual(['b:NOT_HOLDER'])
    expect(lock.run(5, 'a', 'release')).toEqual(['a:OK', 'b:2'])
    expect(lock.run(6, 'b', 'release')).toEqual(['b:OK'])
    expect(lock.json).toMatchObject({ user: null, waiting: [], ttls: {}, token: 2 })
  })

  it('model check: every new holder gets a higher token, nobody queues twice or behind itself, the waiters have their leases', () => {
    const { machine } = compileOrThrow(source, { file: 'leased-mutex.sm' })
    const result = modelCheck(machine, {
      clients: 3,
      depth: 6,
      domains: { ttl: [0, 100, 99] },
      timeSteps: [0, 100],
      invariants: [
        'user ≠ Φ or waiting = Φ',
        'forall c: not (c in waiting and c = user)',
        'forall c: (c in waiting) = (c in ttls)',
        "always token' >= token",
        "always user' = user or user' = Φ or token' = token + 1",
        '(user = Φ) = (expires = 0)',
      ],
    })
    expect(result.violation).toBeUndefined()
    expect(result.ok).toBe(true)
  })
})
