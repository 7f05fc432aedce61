import { describe, expect, it } from 'vitest'
import { main } from '../src/main'
import { memoryIo } from './io'

describe('lockstep sim --in-flight', () => {
  it('pipelines K requests per client through faults and client restarts; the JSON and the summary say K', async () => {
    const faults = 'crash,restart,amnesia,partition,client-restart'
    const { io, stdout } = memoryIo()
    const code = await main(['sim', '--machine', 'kv', '--replicas', '3', '--clients', '3', '--in-flight', '4', '--ops', '60', '--faults', faults, '--seeds', '3', '--json'], io)
    const result = JSON.parse(stdout())
    expect(code, JSON.stringify(result.failures)).toBe(0)
    expect(result).toMatchObject({ ok: true, clients: 3, inFlight: 4, seeds: 3, failures: [] })
    expect(result.operations).toBeGreaterThanOrEqual(170)

    const text = memoryIo()
    expect(await main(['sim', '--machine', 'register', '--clients', '2', '--in-flight', '4', '--ops', '40', '--seed', '5'], text.io)).toBe(0)
    expect(text.stdout()).toMatch(/^ok: 1\/1 seeds passed; 40 operations on 3 replicas \(lamport\), 2 clients × 4 in flight, machine register/)
  })

  it('a failing seed prints a rerun command with --in-flight K, and that command fails the same way', async () => {
    // A liar and clients that take the first answer: the run fails on purpose (wrong answers reach the clients).
    const { io, stdout } = memoryIo()
    expect(await main(['sim', '--machine', 'register', '--clients', '3', '--in-flight', '3', '--ops', '40', '--faults', 'lie', '--seeds', '2', '--json'], io)).toBe(1)
    const failed = JSON.parse(stdout()) as { inFlight: number; failures: { seed: number; violation: string; rerun: string }[] }
    expect(failed.inFlight).toBe(3)
    const first = failed.failures[0]!
    expect(first.rerun).toBe(`npx lockstep sim --machine register --replicas 3 --order lamport --clients 3 --in-flight 3 --ops 40 --faults lie --overlap --liars 1 --seed ${first.seed}`)

    const again = memoryIo()
    expect(await main([...first.rerun.split(' ').slice(2), '--json'], again.io)).toBe(1)
    const replayed = JSON.parse(again.stdout()) as typeof failed
    expect(replayed.failures.map((f) => f.violation)).toEqual(failed.failures.filter((f) => f.seed === first.seed).map((f) => f.violation))
  })

  it('exits 2 for a count out of range, and for the mutex, whose lock belongs to the client id', async () => {
    const cases = [
      [['sim', '--in-flight', '0'], /--in-flight must be a whole number from 1 to 1000 \(got '0'\)/],
      [['sim', '--in-flight', 'many'], /--in-flight must be a whole number from 1 to 1000/],
      [['sim', '--machine', 'mutex', '--in-flight', '2'], /--in-flight 2 with --machine mutex: the lock belongs to the client id, not to one of its loops: .*a mutex client keeps one request in flight/],
    ] as const
    for (const [args, message] of cases) {
      const { io, stderr } = memoryIo()
      expect(await main([...args], io), args.join(' ')).toBe(2)
      expect(stderr()).toMatch(message)
    }
    // One request in flight is what the mutex always did.
    const { io } = memoryIo()
    expect(await main(['sim', '--machine', 'mutex', '--in-flight', '1', '--ops', '20', '--seed', '3'], io)).toBe(0)
  })
})
