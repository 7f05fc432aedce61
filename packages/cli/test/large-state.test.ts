import { describe, expect, it } from 'vitest'
import type { LockstepClient } from '@lockstep/client'
import { useLocalCluster } from './local-cluster-fixture'

// A large state over TCP: three replica processes holding STATE_MB of kv data; one is wiped and rejoins by
// streamed state transfer while clients keep writing, then again with its source killed mid-transfer.
const STATE_MB = Number(process.env.LOCKSTEP_LARGE_STATE_MB ?? 200)
const MiB = 1024 * 1024

const fixture = useLocalCluster('lockstep-large-state-')

/** Writes small puts in a loop until stopped, keeping each one's latency. */
function writer(client: LockstepClient) {
  const latencies: number[] = []
  const puts: { started: number; ms: number }[] = []
  let running = true
  let n = 0
  const done = (async () => {
    while (running) {
      const started = performance.now()
      await client.submit({ name: 'put', args: { key: `w${n++ % 100}`, value: String(n) } })
      latencies.push(performance.now() - started)
      puts.push({ started, ms: performance.now() - started })
    }
  })()
  return {
    latencies,
    /** Latencies of the puts that started between `from` and `to` (performance.now() times). */
    between: (from: number, to: number) => puts.filter((p) => p.started >= from && p.started < to).map((p) => p.ms),
    /** Stops writing; the request in flight is given 30 s to complete (a stuck cluster fails the test by its settling check). */
    async stop() {
      running = false
      await Promise.race([done, new Promise((resolve) => setTimeout(resolve, 30_000))])
    },
  }
}

const p99 = (values: readonly number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length * 0.99)] ?? 0

/** Every replica's status, once all serve at one position (writes stopped). */
async function settled(): Promise<{ id: string; position: number; digest: string; status: string }[]> {
  let statuses: { id: string; position: number; digest: string; status: string }[] = []
  for (let i = 0; i < 600; i++) {
    statuses = (await fixture.cluster.status({ digest: false })).map((s) => ({ id: s.id, position: s.position, digest: s.digest, status: s.state }))
    if (statuses.length === 3 && statuses.every((s) => s.status === 'normal') && new Set(statuses.map((s) => s.position)).size === 1) {
      return (await fixture.cluster.status()).map((s) => ({ id: s.id, position: s.position, digest: s.digest, status: s.state }))
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`the replicas did not settle: ${JSON.stringify(statuses)}`)
}

describe(`a ${STATE_MB} MB state over TCP`, () => {
  it('a wiped replica rejoins by streamed state transfer while clients keep writing; then again with its source killed mid-transfer', async () => {
    const loader = await fixture.cluster.client('loader')
    const value = 'x'.repeat(MiB)
    for (let i = 0; i < STATE_MB; i++) await loader.call({ name: 'put', args: { key: `big${i}`, value: `${i}:${value}` } })

    // 1. r3 is wiped (restarted with memory storage) and takes the state by streamed transfer.
    const writing = writer(await fixture.cluster.client('writer', { preferred: 'r1' }))
    const started = performance.now()
    await fixture.cluster.restart('r3')
    let transferring: number | undefined
    let transferred: number | undefined
    for (let i = 0; i < 1200 && transferred === undefined; i++) {
      const r3 = (await fixture.cluster.status({ digest: false })).find((s) => s.id === 'r3')
      if (r3?.state === 'transferring') transferring ??= performance.now()
      if (r3?.state === 'normal' && r3.position > STATE_MB) transferred = performance.now()
      else await new Promise((resolve) => setTimeout(resolve, 50))
    }
    const transferMs = (transferred ?? performance.now()) - started
    // Puts while r3 took the state; the first ones after its restart also wait for the view change that drops its
    // old incarnation (failure detection, suspectAfterMs) and the one that adds the new one.
    const during = writing.between(transferring ?? started, transferred ?? performance.now())
    await writing.stop()
    const first = await settled()
    expect(new Set(first.map((s) => s.digest)).size, JSON.stringify(first)).toBe(1)
    console.log(
      `large state: ${STATE_MB} MB transferred to a wiped r3 in ${(transferMs / 1000).toFixed(1)} s from its restart (${(((transferred ?? 0) - (transferring ?? 0)) / 1000).toFixed(1)} s transferring) while writing; ` +
        `the writers' p99 while it transferred: ${p99(during).toFixed(1)} ms over ${during.length} puts; over the whole restart: ${p99(writing.latencies).toFixed(1)} ms over ${writing.latencies.length} puts`,
    )

    // 2. Again, and the replica it streams from dies mid-transfer: it finishes from the other one.
    const again = writer(await fixture.cluster.client('writer2', { preferred: 'r2' }))
    await fixture.cluster.restart('r3')
    for (let i = 0; i < 1200; i++) {
      const r3 = (await fixture.cluster.status({ digest: false })).find((s) => s.id === 'r3')
      if (r3?.state === 'transferring') break
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    const r1 = fixture.cluster.replicas.find((r) => r.id === 'r1')!
    process.kill(r1.pid, 'SIGKILL') // one of its two sources
    let finished = false
    for (let i = 0; i < 1200 && !finished; i++) {
      const r3 = (await fixture.cluster.status({ digest: false })).find((s) => s.id === 'r3')
      finished = r3?.state === 'normal' && r3.position > STATE_MB
      if (!finished) await new Promise((resolve) => setTimeout(resolve, 100))
    }
    expect(finished, 'r3 finished taking the state from r2').toBe(true)
    await again.stop()
    await fixture.cluster.restart('r1')
    const second = await settled()
    expect(new Set(second.map((s) => s.digest)).size, JSON.stringify(second)).toBe(1)
    const [check] = await loader.call<{ value: string }>({ name: 'get', args: { key: `big${STATE_MB - 1}` } })
    expect(check!.value.startsWith(`${STATE_MB - 1}:`)).toBe(true)
  }, 600_000)
})
