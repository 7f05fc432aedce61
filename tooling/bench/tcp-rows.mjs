// One TCP row of the etcd benchmark alone, for profiling the client side: three `lockstep replica` processes
// (`cluster up`), closed-loop clients in this process sharing one connection to each replica.
// `node tooling/bench/tcp-rows.mjs [lamport|realtime] [clients] [memory|file]`, e.g. under `node --cpu-prof`.
import { upLocalCluster } from '../../packages/cli/dist/index.js'
import { measureClosedLoop } from './closed-loop.mjs'

const order = process.argv[2] ?? 'lamport'
const clientCount = Number(process.argv[3] ?? 64)
const storage = process.argv[4] ?? 'memory'
const extra = storage === 'file' ? { storage: { type: 'file', dir: 'data', sync: 'batch' } } : undefined
const cluster = await upLocalCluster({ replicas: 3, machine: 'kv', order, basePort: 0, logLevel: 'warn', onLog: (line) => console.error(line), extra })
try {
  const ids = cluster.replicas.map((r) => r.id)
  const clients = []
  for (let i = 0; i < clientCount; i++) clients.push(await cluster.client(`bench-${i}`, { preferred: ids[i % 3], retryAfterMs: 60_000, shareConnections: true }))
  const cpu = process.cpuUsage()
  const timing = { warmupMs: Number(process.env.BENCH_WARMUP_MS ?? 1000), durationMs: Number(process.env.BENCH_DURATION_MS ?? 5000) }
  const measured = await measureClosedLoop(clients, timing)
  const used = process.cpuUsage(cpu)
  const seconds = (timing.warmupMs + timing.durationMs) / 1000
  console.log(JSON.stringify({ order, clients: clientCount, storage, ...measured, 'client process cpu µs/op': Math.round((used.user + used.system) / (measured['commands/s'] * seconds) * 10) / 10 }))
  for (const client of clients) await client.stop()
} finally {
  await cluster.stop()
}
