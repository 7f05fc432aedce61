import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LockstepClient } from '@lockstep/client'
import { tcpClient } from '@lockstep/transport-tcp'
import { upLocalCluster, type LocalCluster } from '../src/local-cluster'
import { requireBuiltCli, stopEverything } from './processes'

// Short-lived clients by the hundred thousand against three replica processes over TCP: each one connects,
// puts once and leaves, like a CLI invocation or a serverless function. The replicated session table must stay
// within its configured capacity on every replica (sessions dropped in the total order, the same everywhere),
// the transport must make room for new clients by dropping the sessions of departed ones, and a replica that
// rejoins afterwards must catch up.
const CLIENTS = Number(process.env.LOCKSTEP_ONE_SHOT_CLIENTS ?? 100_000)
const CAPACITY = 1000
const CONCURRENCY = 48

let cluster: LocalCluster
beforeAll(async () => {
  requireBuiltCli()
  cluster = await upLocalCluster({ machine: 'kv', basePort: 0, logLevel: 'warn', extra: { sessions: { capacity: CAPACITY } } })
}, 90_000)
afterAll(async () => {
  await stopEverything([cluster])
}, 60_000)

/** Every replica's status once all serve at one position. */
async function settled(digest = true) {
  let statuses = await cluster.status({ digest: false })
  for (let i = 0; i < 600; i++) {
    if (statuses.length === 3 && statuses.every((s) => s.state === 'normal') && new Set(statuses.map((s) => s.position)).size === 1) break
    await new Promise((resolve) => setTimeout(resolve, 100))
    statuses = await cluster.status({ digest: false })
  }
  return digest ? cluster.status() : statuses
}

describe(`${CLIENTS.toLocaleString('en')} one-shot clients over TCP`, () => {
  it('keep the session table within its capacity on every replica, the digests equal, and a rejoining replica catches up', async () => {
    const { config } = cluster
    const secret = (await readFile(resolve(config.baseDir, (config.security.clientSecret as { file: string }).file), 'utf8')).trim()
    /** One client process: its own id and run, one replica to talk to, one request. */
    const oneShot = async (i: number) => {
      const replica = config.replicas[i % config.replicas.length]!
      const client = new LockstepClient({
        id: `once-${i}`,
        transport: tcpClient({ clusterId: config.clusterId, replicas: [{ id: replica.id, host: replica.host, port: replica.port }], auth: { secret } }),
        replicas: [replica.id],
        incarnation: Math.floor((performance.timeOrigin + performance.now()) * 1000),
        // A client the replicas never let in fails the test instead of waiting for ever.
        retryAfterMs: 500,
        maxAttempts: 20,
      })
      await client.start()
      try {
        const reply = await client.submit({ name: 'put', args: { key: `k${i % 1000}`, value: String(i) } })
        if (!reply.ok) throw new Error(`client once-${i}: ${reply.error.code} ${reply.error.message}`)
      } finally {
        await client.stop()
      }
    }

    const started = performance.now()
    let next = 0
    const peaks: number[] = []
    const worker = async () => {
      while (next < CLIENTS) {
        const i = next++
        await oneShot(i)
        if (i > 0 && i % Math.max(1, Math.floor(CLIENTS / 10)) === 0) peaks.push(...(await cluster.status({ digest: false })).map((s) => s.sessions))
      }
    }
    await Promise.all(Array.from({ length: CONCURRENCY }, worker))
    const seconds = (performance.now() - started) / 1000

    const after = await settled()
    expect(after.map((s) => s.position)).toEqual([CLIENTS, CLIENTS, CLIENTS])
    expect(new Set(after.map((s) => s.digest)).size, JSON.stringify(after)).toBe(1)
    for (const sessions of [...peaks, ...after.map((s) => s.sessions)]) expect(sessions).toBeLessThanOrEqual(CAPACITY)
    expect(after.every((s) => s.sessions === Math.min(CAPACITY, CLIENTS))).toBe(true)
    console.log(`one-shot clients: ${CLIENTS} in ${seconds.toFixed(1)} s (${Math.round(CLIENTS / seconds)}/s, ${CONCURRENCY} at a time); sessions on each replica at most ${Math.max(...peaks, ...after.map((s) => s.sessions))} of ${CAPACITY}`)

    // A replica that lost everything rejoins afterwards and takes the state, the session table included.
    await cluster.restart('r3')
    const rejoined = await settled()
    expect(new Set(rejoined.map((s) => s.digest)).size, JSON.stringify(rejoined)).toBe(1)
    expect(rejoined.find((s) => s.id === 'r3')).toMatchObject({ state: 'normal', sessions: Math.min(CAPACITY, CLIENTS) })
    // And it serves: a new client reads a key back through it.
    const reader = await cluster.client('reader', { preferred: 'r3' })
    const [read] = await reader.call<{ value: string }>({ name: 'get', args: { key: 'k0' } })
    expect(Number(read!.value) % 1000).toBe(0)
  }, 900_000)
})
