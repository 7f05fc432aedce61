// A user's state machine whose snapshot breaks on a state its apply made (a BigInt in the state: JSON.stringify
// throws), with real `lockstep replica` processes over TCP and file storage. Every replica calls snapshot at the
// same position (the state digest every `stateDigestEvery` deliveries), inside the delivery of a message. Before,
// each replica's TCP link logged "the message handler threw; the message counts as delivered" and the replica went
// on from an engine left halfway through that message (its orderer's batch cut short, no digest sent), /health
// "normal". Now each replica stops there (fail-stop), says why at error level naming the machine, the method and
// the position, and its process exits 1; with the machine fixed, the replicas restart from their disks and nothing
// acknowledged is lost.
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startLocalCluster, writeLocalClusterConfig, type LocalCluster, type ReplicaExit } from '../src/local-cluster'
import { requireBuiltCli, stopEverything, trackPid, untilReport, waitFor } from './processes'

let dir: string
let cluster: LocalCluster | undefined
beforeAll(async () => {
  requireBuiltCli()
  dir = await mkdtemp(join(tmpdir(), 'lockstep-machine-failure-'))
})
afterAll(async () => {
  await stopEverything([cluster], dir)
}, 60_000)

/** A counter; `broken` puts a BigInt in the state from its 7th increment on, which its snapshot cannot write. */
const counter = (broken: boolean) => `
export const machine = {
  name: 'fragile-counter',
  init: () => ({ n: 0, mark: null }),
  apply(state, command, ctx) {
    if (command.name === 'inc') state.n += 1
    if (state.n === 7) state.mark = ${broken ? '7n' : "'7'"}
    return [{ to: ctx.client, value: state.n }]
  },
  snapshot: (state) => new TextEncoder().encode(JSON.stringify(state)),
  restore: (bytes) => JSON.parse(new TextDecoder().decode(bytes)),
}
`

describe('a state machine whose snapshot throws (real processes, storage "file")', () => {
  it('stops each replica at the position it threw (exit 1, the machine named at error level); fixed and restarted, nothing acknowledged is lost', async () => {
    const module = join(dir, 'fragile-counter.mjs')
    await writeFile(module, counter(true))
    const config = await writeLocalClusterConfig({ dir: join(dir, 'cluster'), basePort: 0, machine: module, extra: { storage: { type: 'file', dir: 'data', sync: 'batch' }, stateDigestEvery: 5 } })
    const lines: string[] = []
    cluster = await startLocalCluster(config, { logLevel: 'warn', onLog: (line) => lines.push(line) })
    for (const replica of cluster.replicas) trackPid(replica.pid)
    const exits: ReplicaExit[] = []
    cluster.onUnexpectedExit((exit) => exits.push(exit))

    const client = await cluster.client('counter', { retryAfterMs: 200 })
    const acknowledged: number[] = []
    // Every replica that delivers position 10 calls snapshot there (the state digest); a view change or a state
    // transfer (a replica slow on a loaded machine) calls it too, from position 7 on. The increments go on until the
    // replicas stopped by themselves: no timeout decides it. (The guard turns a hang into a failure, nothing more.)
    const majorityGone = waitFor('a majority of the replicas to exit by itself', () => exits.length >= 2, 120_000)
    majorityGone.catch(() => {})
    for (let i = 1; i <= 12; i++) {
      const answer = await Promise.race([
        client.call({ name: 'inc', args: {} }, { timeoutMs: 120_000 }).then(
          ([output]) => output as number,
          () => undefined,
        ),
        majorityGone.then(
          () => undefined,
          () => undefined,
        ),
      ])
      if (answer === undefined) break
      acknowledged.push(answer)
    }
    await client.stop()
    // Increments before the state could not be written all answered, in order; none from position 10 on.
    expect(acknowledged.length, JSON.stringify(acknowledged)).toBeGreaterThanOrEqual(6)
    expect(acknowledged).toEqual(Array.from({ length: Math.min(acknowledged.length, 9) }, (_, i) => i + 1))
    // Once a majority stopped, the last one cannot order anything (no majority) and waits.
    await majorityGone.catch(() => {})
    const errors = lines.filter((l) => l.includes('"level":"error"'))
    expect(exits.length, `exits ${JSON.stringify(exits)}; the error lines:\n${errors.join('\n')}`).toBeGreaterThanOrEqual(2)
    for (const exit of exits) {
      expect(exit.code, exit.id).toBe(1)
      expect(exit.failure, exit.id).toMatch(/^it stopped on an unexpected error: machine 'fragile-counter' failed in snapshot/)
      const own = errors.filter((l) => l.includes(`"replica":"${exit.id}"`))
      const said = own.find((l) => l.includes(`replica '${exit.id}' stopped`) && l.includes("machine 'fragile-counter' failed in snapshot") && l.includes('BigInt'))
      expect(said, own.join('\n')).toMatch(/at position (7|8|9|10) \(view \d+\)/)
    }
    expect(errors.join('\n')).not.toContain('the message counts as delivered')

    // The machine fixed, each replica restarts from its disk; the count holds every acknowledged increment.
    await writeFile(module, counter(false))
    for (const id of ['r1', 'r2', 'r3']) await cluster.restart(id)
    await untilReport(config, 'r1', 'r1 serving again', (s) => s.status === 'normal')
    const after = await cluster.client('after')
    const [next] = await after.call({ name: 'inc', args: {} })
    // Increments that executed but were never answered (the one at position 10, say) count too: at least one more.
    expect(next as number).toBeGreaterThan(acknowledged.length)
    await after.stop()
    for (const id of ['r1', 'r2', 'r3']) await untilReport(config, id, `${id} at the count's position`, (s) => s.status === 'normal' && s.position >= (next as number))
    const statuses = await cluster.status()
    expect(new Set(statuses.map((s) => `${s.position}:${s.digest}`)).size, JSON.stringify(statuses)).toBe(1)
    await cluster.stop()
    cluster = undefined
  }, 240_000)
})
