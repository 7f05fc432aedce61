// Committed commands/s of a three-process cluster: `lockstep replica` processes on
// 127.0.0.1 talking TCP, Lamport ordering, the kv machine; closed-loop clients
// (one request in flight each) in this process, also over TCP. Runs the built dists.
//   BENCH_CLIENTS=1,16,64  BENCH_DURATION_MS=3000  BENCH_WARMUP_MS=500  BENCH_STORAGE=memory|file  node tooling/bench/process-cluster-bench.mjs
import { upLocalCluster } from '../../packages/cli/dist/index.js'
import { measureClosedLoop } from './closed-loop.mjs'
import { machineInfo, report } from './table.mjs'

const durationMs = Number(process.env.BENCH_DURATION_MS ?? 3000)
const warmupMs = Number(process.env.BENCH_WARMUP_MS ?? 500)
const clientCounts = (process.env.BENCH_CLIENTS ?? '1,16,64').split(',').map(Number)
/** 'memory' (default) or 'file': each replica's write-ahead log with an fsync per batch. */
const storage = process.env.BENCH_STORAGE ?? 'memory'

async function run(cluster, clientCount, round) {
  const ids = cluster.replicas.map((r) => r.id)
  const clients = []
  for (let i = 0; i < clientCount; i++) {
    // Clients spread over the replicas, as a load balancer would.
    clients.push(await cluster.client(`bench-${round}-${i}`, { preferred: ids[i % ids.length], retryAfterMs: 60_000 }))
  }
  const measured = await measureClosedLoop(clients, { warmupMs, durationMs })
  for (const client of clients) await client.stop()
  return { clients: clientCount, ...measured }
}

// Without a dir, the configuration and secrets go to a temporary directory that stop() removes.
const cluster = await upLocalCluster({ replicas: 3, machine: 'kv', basePort: 0, logLevel: 'warn', storage, onLog: (line) => console.error(line) })
try {
  const rows = []
  for (const [round, clients] of clientCounts.entries()) rows.push(await run(cluster, clients, round))
  report(`process cluster: 3 lockstep replica processes, TCP on 127.0.0.1, Lamport ordering, kv put/get, ${storage} storage`, rows, {
    machine: await machineInfo(),
    durationMs,
    warmupMs,
  })
} finally {
  await cluster.stop()
}
