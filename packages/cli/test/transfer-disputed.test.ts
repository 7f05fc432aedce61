import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { TEST_LIE_VARIABLE } from '../src/replica-runner'
import { upLocalCluster, type LocalCluster } from '../src/local-cluster'
import { requireBuiltCli, stopEverything } from './processes'

// A replica whose machine computes a wrong state must not hand it on: real `lockstep replica` processes over TCP
// with memory storage, r1 lying on its state (LOCKSTEP_TEST_LIE, mode `state`, rate 1: every command's effect
// lost on r1). A replica restarted without its state then takes a state only once its other sources say the
// same digest (see StateTransfer.confirm in @lockstep/core). Found in the simulator (seed 11 of
// packages/conformance/test/voting-simulator.test.ts); here the same over real processes.

const clusters: LocalCluster[] = []
const dirs: string[] = []
afterAll(async () => {
  for (const [i, cluster] of clusters.entries()) await stopEverything([cluster], dirs[i])
}, 60_000)

/** A cluster of `replicas` kv replicas with r1 lying on its state, its replicas' log lines kept. */
async function lyingCluster(replicas: number): Promise<{ cluster: LocalCluster; lines: string[] }> {
  requireBuiltCli()
  const dir = await mkdtemp(join(tmpdir(), 'lockstep-transfer-disputed-'))
  dirs.push(dir)
  const lines: string[] = []
  process.env[TEST_LIE_VARIABLE] = JSON.stringify({ r1: { seed: 3, mode: 'state', rate: 1 } })
  try {
    const cluster = await upLocalCluster({ machine: 'kv', replicas, basePort: 0, logLevel: 'info', dir: join(dir, 'cluster'), onLog: (line) => lines.push(line) })
    clusters.push(cluster)
    return { cluster, lines }
  } finally {
    delete process.env[TEST_LIE_VARIABLE]
  }
}

/**
 * Writes more keys than a replica keeps of the order for catching others up (`suffixWindow`, 4096 requests), so
 * that a replica restarted without its state must take the whole state, through a client that takes the
 * majority's answer (r1's is wrong, the others' right), 100 requests in flight.
 */
async function write(cluster: LocalCluster): Promise<void> {
  const client = await cluster.client('writer', { voter: 'majority' })
  try {
    for (let batch = 0; batch < 42; batch++) {
      const replies = await Promise.all(Array.from({ length: 100 }, (_, i) => client.submit({ name: 'put', args: { key: `k${batch * 100 + i}`, value: `v${i}` } })))
      expect(replies.every((reply) => reply.ok)).toBe(true)
    }
  } finally {
    await client.stop()
  }
}

/** Polls until `done` holds or `timeoutMs` passes; returns whether it held. */
async function eventually(done: () => Promise<boolean> | boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await done()) return true
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return done()
}

/**
 * `replica` took the state of a view (the line `tookLine`): from sources holding the majority's state only, r1 (the
 * liar) among them only when r1 itself last took the majority's state at that same position, so that it executed
 * nothing since (a state digest check found its state wrong, and it rejoined by state transfer in that view or the
 * one before: found in a CI-style run, r1 took the state of view 6 at 5008 and started view 7 at once, which let r5
 * in at 5008); and it ends with r2's digest.
 */
async function expectRightStateTaken(cluster: LocalCluster, lines: string[], replica: string, tookLine: string): Promise<void> {
  if (/from (.*, )?r1\b/.test(tookLine)) {
    const [, view, position] = /took the state of view (\d+) at position (\d+) /.exec(tookLine)!
    const r1Took = lines.slice(0, lines.indexOf(tookLine)).filter((l) => l.includes("replica 'r1' took the state of view ")).at(-1)
    const r1At = /took the state of view (\d+) at position (\d+) /.exec(r1Took ?? '')
    expect(r1At !== null && Number(r1At[1]) <= Number(view) && r1At[2] === position, `${tookLine}\n${lines.filter((l) => l.includes("'r1'")).slice(-10).join('\n')}`).toBe(true)
  }
  expect(
    await eventually(async () => {
      const statuses = await cluster.status()
      const [r2, taker] = ['r2', replica].map((id) => statuses.find((s) => s.id === id))
      return taker?.state === 'normal' && r2 !== undefined && taker.position === r2.position && taker.digest === r2.digest
    }, 30_000),
  ).toBe(true)
}

describe("a replica restarted without its state takes no liar's state (processes over TCP, r1 lying on its state)", () => {
  it('3 replicas: r3 takes none, says so at error level and on /status (transferRefused); r2 keeps the right state (or, once r1 was repaired first, r3 takes the right state)', async () => {
    const { cluster, lines } = await lyingCluster(3)
    await write(cluster)
    await cluster.restart('r3') // memory storage: it comes back without state and asks to rejoin
    const refusal = (line: string) => line.includes("replica 'r3' takes no state in view")
    const took = (line: string) => line.includes("replica 'r3' took the state of view")
    expect(await eventually(() => lines.some((line) => refusal(line) || took(line)), 30_000), lines.slice(-20).join('\n')).toBe(true)
    const tookLine = lines.find(took)
    if (tookLine !== undefined && !lines.some(refusal)) {
      // Under load r1 may lag so far behind that it took r2's state itself, and a state digest check then found it
      // wrong and a view change repaired it, before r3 asked: no source disputed r2's state (found in a full CI
      // run: r1 at 2000 while r2 was at 4400). r3 then takes the right state.
      await expectRightStateTaken(cluster, lines, 'r3', tookLine)
      return
    }
    expect(lines.find(refusal)).toMatch(/"level":"error"|error/)
    expect(lines.some(took)).toBe(false)
    const r3 = cluster.replicas.find((r) => r.id === 'r3')!
    const report = (await (await fetch(`http://127.0.0.1:${r3.metricsPort}/status?digest=false`)).json()) as { status: string; transferRefused?: { holders: Record<string, string[]> } }
    expect(report.status).toBe('transferring')
    expect(Object.values(report.transferRefused!.holders).sort()).toEqual([['r1'], ['r2']])
    const statuses = await cluster.status()
    const r2 = statuses.find((s) => s.id === 'r2')!
    expect(r2.state).toBe('normal')
  }, 120_000)

  it("5 replicas: r5 takes the state the majority holds (r2, r3, r4), not r1's, and serves with their digest", async () => {
    const { cluster, lines } = await lyingCluster(5)
    await write(cluster)
    await cluster.restart('r5')
    const took = (line: string) => line.includes("replica 'r5' took the state of view")
    expect(await eventually(() => lines.some(took), 30_000), lines.slice(-20).join('\n')).toBe(true)
    // r1's own state is wrong: r5 may name r1 among its sources only when r1 itself took the majority's state.
    await expectRightStateTaken(cluster, lines, 'r5', lines.find(took)!)
  }, 120_000)
})
