import { describe, expect, it } from 'vitest'
import { ErrorCodes, type StateMachine } from '@lockstep/interface'
import { genericWorkload, SimCluster, simulate } from '@lockstep/testkit'
import { orderers } from './orderers'

interface Counter {
  n: number
  mark: bigint | string | null
}

/**
 * A counter whose `snapshot` cannot write the state its `apply` makes from the 7th increment on, while `bug.on` (a
 * user's bug; turning it off is the fixed module the replicas are restarted with).
 */
function counter(bug: { on: boolean }): StateMachine<Counter> {
  return {
    name: 'fragile-counter',
    init: () => ({ n: 0, mark: null }),
    apply: (state, _command, ctx) => {
      state.n += 1
      if (state.n === 7) state.mark = bug.on ? 7n : '7'
      return [{ to: ctx.client, value: state.n }]
    },
    snapshot: (state) => new TextEncoder().encode(JSON.stringify(state)),
    restore: (bytes) => JSON.parse(new TextDecoder().decode(bytes)) as Counter,
  }
}

describe.each(orderers)('a state machine whose snapshot throws (virtual time) ($name)', (orderer) => {
  it('stops each replica where it threw, naming the machine: none goes on from a delivery handled halfway, and nothing after it is answered', async () => {
    // A state digest every 5 deliveries: each replica calls snapshot at positions 5 and 10, inside a delivery.
    const c = new SimCluster({ machine: counter({ on: true }), orderer: orderer.make(), replicas: 3, durable: true, seed: 7, engine: { stateDigestEvery: 5 }, engineFailures: 'keep' })
    await c.start()
    const client = await c.client('alice', ['r1', 'r2', 'r3'], 100)
    const answered: unknown[] = []
    for (let i = 0; i < 9; i++) answered.push(...(await c.until(client.call({ name: 'inc' }))))
    expect(answered).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9])
    let settled = false
    void client.call({ name: 'inc' }).then(
      () => (settled = true),
      () => (settled = true),
    )
    // Each replica that delivers position 10 takes the digest there and stops; once a majority stopped, the last one
    // cannot deliver it (no majority to order with) and stays where it was.
    const stopped = () => c.replicaIds.filter((id) => c.host(id).failure !== undefined)
    expect(await c.runUntil(() => stopped().length >= 2, 5_000), c.failures.join('\n')).toBe(true)
    await c.runFor(2_000)
    for (const id of c.replicaIds) {
      const host = c.host(id)
      if (host.failure === undefined) {
        expect(host.engine.position, `${id} runs on: it never delivered position 10`).toBeLessThan(10)
        continue
      }
      expect(host.isRunning, id).toBe(false)
      expect(host.failureCause, id).toBe('engine')
      expect(host.failure).toMatchObject({ code: ErrorCodes.INTERNAL })
      expect(host.failure.message).toMatch(/^machine 'fragile-counter' failed in snapshot: Do not know how to serialize a BigInt/)
      expect(host.engine.position, id).toBe(10)
    }
    expect([...c.failures].sort()).toEqual(stopped().map((id) => expect.stringContaining(`replica ${id} stopped on an unexpected error: machine 'fragile-counter' failed in snapshot`)))
    // No replica answered the 10th increment.
    expect(settled).toBe(false)
    await client.stop()
    await c.stop()
  })

  it("by default the cluster's next step throws the error (a test fails on it at once, with its stack)", async () => {
    const c = new SimCluster({ machine: counter({ on: true }), orderer: orderer.make(), replicas: 3, seed: 9, engine: { stateDigestEvery: 5 } })
    await c.start()
    const client = await c.client('alice', ['r1', 'r2', 'r3'], 100)
    for (let i = 0; i < 9; i++) await c.until(client.call({ name: 'inc' }))
    const tenth = client.call({ name: 'inc' }).catch(() => undefined)
    await expect(c.until(tenth, 5_000)).rejects.toThrow(/^machine 'fragile-counter' failed in snapshot: Do not know how to serialize a BigInt/)
    expect(c.running().some((host) => host.failureCause === 'engine')).toBe(true)
    await client.stop()
    await c.stop()
  })

  it('with the machine fixed, the replicas restarted from their disks hold every acknowledged increment and go on', async () => {
    const bug = { on: true }
    const c = new SimCluster({ machine: counter(bug), orderer: orderer.make(), replicas: 3, durable: true, seed: 8, engine: { stateDigestEvery: 5 }, engineFailures: 'keep' })
    await c.start()
    const client = await c.client('alice', ['r1', 'r2', 'r3'], 100)
    for (let i = 0; i < 9; i++) await c.until(client.call({ name: 'inc' }))
    void client.call({ name: 'inc' }).catch(() => {})
    expect(await c.runUntil(() => c.replicaIds.filter((id) => c.host(id).failure !== undefined).length >= 2, 5_000)).toBe(true)
    await client.stop()
    for (const id of c.replicaIds) await c.crash(id)
    bug.on = false
    for (const id of c.replicaIds) await c.restartFromDisk(id)
    expect(await c.runUntil(() => c.converged(), 20_000)).toBe(true)
    const again = await c.client('bob', ['r2', 'r3', 'r1'], 100)
    const [next] = await c.until(again.call({ name: 'inc' }))
    // The 10th increment may have executed before the replicas stopped (never answered): 10 or 11.
    expect(next === 10 || next === 11, String(next)).toBe(true)
    for (let i = 0; i < 10; i++) await c.until(again.call({ name: 'inc' }))
    expect(await c.runUntil(() => c.converged(), 10_000)).toBe(true)
    expect(c.failures).toHaveLength(2)
    await again.stop()
    await c.stop()
  })
})

describe('simulate, with a state machine whose snapshot throws', () => {
  it('reports each replica that stopped on it as a failed run with its rerun command, instead of throwing out of simulate', async () => {
    const workload = genericWorkload(counter({ on: true }), () => ({ name: 'inc' }))
    const result = await simulate({ seed: 3, workload, orderer: orderers[0].simulation, replicas: 3, ops: 40, faults: ['crash', 'restart'], durable: true, overlap: true, machineArg: 'fragile-counter.mjs' })
    expect(result.ok).toBe(false)
    // First what the replicas stopped on (each once, with how often), then what followed from it.
    const stops = result.violations.filter((v) => v.startsWith('replica '))
    expect(stops.length).toBeGreaterThan(0)
    expect(result.violations.slice(0, stops.length)).toEqual(stops)
    for (const stop of stops) expect(stop).toMatch(/^replica r\d stopped on an unexpected error: machine 'fragile-counter' failed in snapshot: Do not know how to serialize a BigInt/)
    expect(new Set(stops.map((stop) => stop.split(':')[0])).size).toBe(stops.length)
    expect(result.violations.filter((v) => v.startsWith('simulator:'))).toEqual([])
    expect(result.rerun).toBe('npx lockstep sim --machine fragile-counter.mjs --replicas 3 --order lamport --clients 3 --ops 40 --faults crash,restart --overlap --durable --seed 3')
  })
})
