import { describe, expect, it } from 'vitest'
import { register } from '@lockstep/machines'
import { ErrorCodes } from '@lockstep/interface'
import { genericWorkload, simulate, workloads, type Operation } from '../src/index'
import { sequencerSpec } from './sequencer'

/** The operations of each process of a history, in call order. */
function byProcess(history: readonly Operation[]): Map<string, Operation[]> {
  const processes = new Map<string, Operation[]>()
  for (const operation of history) {
    const name = String(operation.client)
    processes.set(name, [...(processes.get(name) ?? []), operation])
  }
  for (const operations of processes.values()) operations.sort((a, b) => a.call - b.call)
  return processes
}

// Faults with pipelined clients (client restarts abandoning K requests, crashes, view changes) run against the
// repository's orderers in packages/conformance/test/pipelined-world.test.ts: the sequencer here tolerates none.
describe('pipelined clients (inFlight)', () => {
  it('keeps K requests in flight per client on one LockstepClient, each loop a sequential process of the history', async () => {
    for (const workload of [workloads.kv!, workloads.register!]) {
      const result = await simulate({ seed: 11, workload, orderer: sequencerSpec, replicas: 3, clients: 3, inFlight: 4, ops: 120 })
      expect(result.violations).toEqual([])
      expect(result.operations).toBe(120)
      // Some client had all four loops' requests pending at once: one client, one numbering, four in flight.
      expect(result.pipelining).toEqual({ inFlight: 4, peak: 4 })
      const processes = byProcess(result.history)
      expect([...processes.keys()].sort()).toEqual(['c1.1', 'c1.2', 'c1.3', 'c1.4', 'c2.1', 'c2.2', 'c2.3', 'c2.4', 'c3.1', 'c3.2', 'c3.3', 'c3.4'])
      for (const [name, operations] of processes) {
        // 120 requests over 3 clients over 4 loops each.
        expect(operations, name).toHaveLength(10)
        for (let i = 1; i < operations.length; i++) expect(operations[i]!.call, name).toBeGreaterThanOrEqual(operations[i - 1]!.return!)
      }
      // Different loops of one client overlap: the client pipelines.
      const c1 = result.history.filter((op) => String(op.client).startsWith('c1.'))
      expect(c1.some((a) => c1.some((b) => a.client !== b.client && a.call < b.call && b.call < a.return!))).toBe(true)
    }
  })

  it('splits an uneven share over the loops, and runs a generic workload pipelined too', async () => {
    const workload = genericWorkload(register, (random) => (random.next() < 0.5 ? { name: 'read' } : { name: 'write', args: { value: Math.floor(random.next() * 4) } }))
    const result = await simulate({ seed: 3, workload, orderer: sequencerSpec, replicas: 3, clients: 2, inFlight: 3, ops: 25 })
    expect(result.violations).toEqual([])
    expect(result.operations).toBe(25)
    expect(result.pipelining).toEqual({ inFlight: 3, peak: 3 })
  })

  it('with one request in flight (the default) runs exactly as before', async () => {
    const options = { seed: 21, workload: workloads.kv!, orderer: sequencerSpec, replicas: 3, clients: 3, ops: 60 }
    const before = await simulate(options)
    expect(await simulate({ ...options, inFlight: 1 })).toEqual(before)
    expect(before.pipelining).toBeUndefined()
    expect(new Set(before.history.map((op) => op.client))).toEqual(new Set(['c1', 'c2', 'c3']))
  })

  it('refuses the mutex with more than one request in flight, and counts out of range, naming the option', async () => {
    const base = { seed: 1, orderer: sequencerSpec, replicas: 3, clients: 2, ops: 10 }
    await expect(simulate({ ...base, workload: workloads.mutex!, inFlight: 2 })).rejects.toMatchObject({
      code: ErrorCodes.INVALID_CONFIG,
      message: expect.stringMatching(/^simulate: inFlight 2 with the mutex workload \(--in-flight 2\): the lock belongs to the client id/),
    })
    for (const inFlight of [0, 1.5, 1001]) {
      await expect(simulate({ ...base, workload: workloads.kv!, inFlight })).rejects.toMatchObject({ code: ErrorCodes.INVALID_CONFIG, message: expect.stringMatching(/inFlight must be a whole number of requests per client from 1 to 1000/) })
    }
    // The mutex with one request in flight is the mutex as it always ran.
    expect((await simulate({ ...base, workload: workloads.mutex!, inFlight: 1 })).violations).toEqual([])
  })
})
