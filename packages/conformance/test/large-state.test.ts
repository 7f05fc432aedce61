import { describe, expect, it } from 'vitest'
import { kv } from '@lockstep/machines'
import { SimCluster } from '@lockstep/testkit'
import { orderers } from './orderers'

// Large state and many clients on virtual time: a state of many transfer chunks, the transfer's source
// crashing mid-way, and thousands of short-lived clients against a bounded session table.

describe.each(orderers)('large state and many clients (simulated) ($name)', (orderer) => {
  it('a rejoining replica takes a state of many chunks, and goes on from another source when the one it streams from crashes', async () => {
    const lines: string[] = []
    const c = new SimCluster({ machine: kv, orderer: orderer.make(), replicas: 5, seed: 10, engine: { transfer: { chunkBytes: 512, window: 2, suffixWindow: 0 } }, trace: (line) => lines.push(line) })
    await c.start()
    const alice = await c.client('alice', ['r1', 'r2', 'r3', 'r4'], 100)
    for (let i = 0; i < 60; i++) await c.until(alice.submit({ name: 'put', args: { key: `k${i}`, value: 'x'.repeat(200) } }))
    await c.crash('r5')
    await c.restart('r5') // without state: it joins and streams ~13 KB in 512-byte chunks
    expect(await c.runUntil(() => c.host('r5').engine.status === 'transferring', 5_000)).toBe(true)
    await c.runFor(3) // a few chunks in…
    expect(c.host('r5').engine.status, 'still streaming when the source crashes').toBe('transferring')
    await c.crash('r1') // … and one of its sources goes away
    expect(await c.runUntil(() => c.host('r5').engine.status === 'normal', 20_000), 'r5 finishes from the other sources').toBe(true)
    expect(c.host('r5').engine.stateDigest()).toBe(c.host('r2').engine.stateDigest())
    const took = lines.find((line) => line.includes("replica 'r5' took the state"))
    expect(Number(/\((\d+) bytes\)/.exec(took ?? '')?.[1])).toBeGreaterThan(20 * 512)
    await c.stop()
  })

  it('thousands of short-lived clients keep the session table within its capacity on every replica; a replica rejoining afterwards catches up', async () => {
    const capacity = 100
    const c = new SimCluster({ machine: kv, orderer: orderer.make(), replicas: 3, seed: 11, engine: { sessions: { capacity } } })
    await c.start()
    for (let i = 0; i < 2_000; i++) {
      const client = await c.client(`one-shot-${i}`, [`r${(i % 3) + 1}`], 100)
      await c.until(client.submit({ name: 'put', args: { key: `k${i % 50}`, value: String(i) } }))
      await client.stop()
    }
    for (const host of c.running()) expect((host.engine.stateJSON() as Record<string, string>).k49).toBe('1999')
    const sessions = c.running().map((h) => h.engine.sessionCount)
    for (const count of sessions) expect(count).toBeLessThanOrEqual(capacity)
    expect(new Set(c.running().map((h) => h.engine.stateDigest())).size).toBe(1)
    await c.crash('r3')
    await c.restart('r3')
    expect(await c.runUntil(() => c.converged() && c.running().length === 3, 20_000)).toBe(true)
    await c.stop()
  })

  it('a replica restarted after a short outage with its disk catches up with the suffix of the order (no snapshot is sent); one too far behind takes the state', async () => {
    for (const [missed, suffixWindow, bySuffix] of [[20, 4096, true], [80, 50, false]] as const) {
      const lines: string[] = []
      const c = new SimCluster({ machine: kv, orderer: orderer.make(), replicas: 3, durable: true, seed: 12, engine: { transfer: { suffixWindow } }, trace: (line) => lines.push(line) })
      await c.start()
      const alice = await c.client('alice', ['r1', 'r2'], 100)
      for (let i = 0; i < 10; i++) await c.until(alice.submit({ name: 'put', args: { key: `a${i}`, value: String(i) } }))
      await c.crash('r3')
      for (let i = 0; i < missed; i++) await c.until(alice.submit({ name: 'put', args: { key: `b${i}`, value: String(i) } }))
      await c.restartFromDisk('r3')
      expect(await c.runUntil(() => c.converged() && c.running().length === 3 && c.host('r1').engine.view.members.length === 3, 10_000)).toBe(true)
      expect(c.host('r3').engine.stateDigest()).toBe(c.host('r1').engine.stateDigest())
      const caughtUp = lines.filter((line) => line.includes("replica 'r3' took"))
      expect(caughtUp.some((line) => line.includes('(no snapshot needed)')), caughtUp.join('\n')).toBe(bySuffix)
      expect(caughtUp.some((line) => / bytes\) from r\d/.test(line)), caughtUp.join('\n')).toBe(!bySuffix)
      await c.stop()
    }
  })
})
