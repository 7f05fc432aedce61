import { readFileSync } from 'node:fs'
import { compileOrThrow, modelCheck } from '@lockstep/dsl'
import { ErrorCodes, type StateMachine } from '@lockstep/interface'
import { describe, expect, it } from 'vitest'
import { LockClient, lockSpec, startInProcessCluster } from '../src/index'

const SPEC = lockSpec('named-mutex.sm')
const source = readFileSync(SPEC, 'utf8')
const compileSpec = (text: string) => compileOrThrow(text, { file: 'named-mutex.sm' }).machine as StateMachine

/** What must hold of each lock, written for the locks `a` and `b` the model checker names. */
const invariants = ['a', 'b'].flatMap((l) => [
  `forall c: not ("${l}" in user and user["${l}"] = c and "${l}" in waiting and c in waiting["${l}"])`, // the holder never queues behind itself
  `not ("${l}" in waiting) or "${l}" in user`, // a lock with waiters is held
  `not ("${l}" in waiting) or waiting["${l}"] ≠ Φ`, // an empty queue leaves no key behind
  `not ("${l}" in user) or "${l}" in token`, // a held lock has had a grant
  `always not ("${l}" in token) or ("${l}" in token' and token'["${l}"] >= token["${l}"])`, // fencing tokens never go back
])
const check = (machine: StateMachine) => modelCheck(machine as never, { clients: 3, depth: 8, invariants, deadlock: true, domains: { lock: ['a', 'b'] } })

describe('named locks (specs/named-mutex.sm)', () => {
  it('model-checks: every lock is a safe mutex, 3 clients, 2 locks, every interleaving to depth 8', () => {
    const result = check(compileSpec(source))
    expect(result.violation).toBeUndefined()
    expect(result).toMatchObject({ ok: true, depthReached: 8, truncated: false })
  })

  it('the check catches a queue that keeps the new holder in it', () => {
    const broken = source.replace('waiting[lock] := tail(waiting[lock])', 'waiting[lock] := waiting[lock]')
    expect(broken).not.toBe(source)
    const result = check(compileSpec(broken))
    expect(result.ok).toBe(false)
    expect(result.violation!.trace.map((s) => s.line)).toEqual(['c1 acquire {"lock":"a"}', 'c2 acquire {"lock":"a"}', 'c1 release {"lock":"a"}'])
  })

  it('the check catches a release that lets another lock go', () => {
    const broken = source.replace('      user[lock] := Φ\n', '      user["a"] := Φ\n')
    expect(broken).not.toBe(source)
    expect(check(compileSpec(broken)).ok).toBe(false)
  })

  it('runs on a cluster: each lock passes from holder to holder with its own fencing tokens, and locks do not wait for one another', async () => {
    const cluster = await startInProcessCluster({ machine: compileSpec(source), replicas: 3 })
    try {
      const names = ['orders', 'payments', 'ledger']
      const clients = await Promise.all(names.flatMap((lock, l) => [0, 1].map(async (k) => new LockClient(await cluster.client(`${lock}-${k}`, { preferred: cluster.replicaIds[(l + k) % 3] }), { lock }))))
      // A holder of one lock does not stop anyone taking another.
      const first = await Promise.all(clients.filter((_, i) => i % 2 === 0).map((c) => c.acquire()))
      expect(first.map((g) => g.token)).toEqual([1, 1, 1])
      await Promise.all(clients.filter((_, i) => i % 2 === 0).map((c) => c.release()))
      // Then both clients of each lock contend: per lock, grants never overlap and tokens count up by one.
      const holders = new Map<string, string | undefined>()
      const tokens = new Map<string, number[]>()
      await Promise.all(
        clients.map(async (client, i) => {
          const lock = names[Math.floor(i / 2)]!
          for (let round = 0; round < 10; round++) {
            const grant = await client.acquire()
            expect(holders.get(lock)).toBeUndefined()
            holders.set(lock, client.client.id)
            tokens.set(lock, [...(tokens.get(lock) ?? []), grant.token!])
            await new Promise((resolve) => setImmediate(resolve))
            holders.set(lock, undefined)
            await client.release()
          }
        }),
      )
      for (const lock of names) expect(tokens.get(lock)).toEqual(Array.from({ length: 20 }, (_, k) => k + 2))
    } finally {
      await cluster.stop()
    }
  })

  it('LockClient refuses a bad lock name, and leases on a named lock (they have none yet)', async () => {
    const cluster = await startInProcessCluster({ machine: compileSpec(source), replicas: 3 })
    try {
      const client = await cluster.client('c1')
      expect(() => new LockClient(client, { lock: '' })).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_ARGUMENT }))
      expect(() => new LockClient(client, { lock: 'a', ttlMs: 1000 })).toThrow(/named locks .* have no leases yet/)
      await expect(new LockClient(client, { lock: 'a' }).acquire({ ttlMs: 1000 })).rejects.toMatchObject({ code: ErrorCodes.INVALID_ARGUMENT })
      // And a command without a lock name is refused by the machine, naming what is missing.
      const reply = await client.submit({ name: 'acquire' })
      expect(reply.ok).toBe(false)
      if (!reply.ok) expect(reply.error.code).toBe(ErrorCodes.INVALID_COMMAND)
    } finally {
      await cluster.stop()
    }
  })
})
