// Committed commands/s of an in-process cluster: 3 replicas over the memory
// transport with Lamport ordering, closed-loop clients (one request in flight each).
import { LockstepClient } from '../../packages/client/dist/index.js'
import { ReplicaHost } from '../../packages/core/dist/index.js'
import { realScheduler } from '../../packages/interface/dist/index.js'
import { kv } from '../../packages/machines/dist/index.js'
import { lamport } from '../../packages/order-lamport/dist/index.js'
import { MemoryNetwork, memoryClientTransport, memoryTransport } from '../../packages/transport-memory/dist/index.js'
import { fileStorage } from '../../packages/storage-file/dist/index.js'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { measureClosedLoop } from './closed-loop.mjs'
import { machineInfo, report } from './table.mjs'

const durationMs = Number(process.env.BENCH_DURATION_MS ?? 3000)
const warmupMs = Number(process.env.BENCH_WARMUP_MS ?? 500)

/** `sync`: undefined for memory only, or the file storage's policy ('batch' fsyncs before every reply batch). */
async function run(clientCount, sync) {
  const scheduler = realScheduler()
  const network = new MemoryNetwork({ scheduler })
  const ids = ['r1', 'r2', 'r3']
  const dataDir = sync ? mkdtempSync(join(tmpdir(), 'lockstep-bench-')) : undefined
  const durable = sync ? { storage: undefined, membership: {} } : { membership: false }
  const hosts = ids.map((id) => new ReplicaHost({
    self: id, replicas: ids, machine: kv, orderer: lamport(), transport: memoryTransport({ network, replicas: ids }), scheduler,
    ...durable,
    ...(sync ? { storage: fileStorage({ dir: join(dataDir, id), sync }) } : {}),
  }))
  for (const host of hosts) await host.start()
  const clients = []
  for (let i = 0; i < clientCount; i++) {
    const client = new LockstepClient({ id: `c${i}`, transport: memoryClientTransport({ network, replicas: ids }), replicas: [ids[i % 3], ...ids.filter((_, j) => j !== i % 3)], scheduler, retryAfterMs: 60_000 })
    await client.start()
    clients.push(client)
  }
  const measured = await measureClosedLoop(clients, { warmupMs, durationMs })
  const digests = new Set(hosts.map((h) => h.engine.stateDigest()))
  for (const client of clients) await client.stop()
  for (const host of hosts) await host.stop()
  if (dataDir) rmSync(dataDir, { recursive: true, force: true })
  if (digests.size !== 1) throw new Error('replicas diverged during the benchmark')
  return { storage: sync ? `file, sync ${sync}` : 'memory', clients: clientCount, ...measured }
}

const rows = []
for (const clients of (process.env.BENCH_CLIENTS ?? "1,64").split(",").map(Number)) rows.push(await run(clients))
// Durability's price: the same cluster writing a WAL per replica, without fsync and with an fsync per reply batch.
for (const sync of ['never', 'batch']) for (const clients of [1, 64]) rows.push(await run(clients, sync))
report('in-process cluster: 3 replicas, memory transport, Lamport ordering, kv put/get', rows, { machine: await machineInfo(), durationMs })
