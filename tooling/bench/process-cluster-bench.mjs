/* global process, performance, setTimeout, console */
// Committed commands/s of a three-process cluster: `lockstep replica` processes on
// 127.0.0.1 talking TCP, Lamport ordering, the kv machine; closed-loop clients
// (one request in flight each) in this process, also over TCP. Runs the built dists.
//   BENCH_CLIENTS=1,16,64  BENCH_DURATION_MS=3000  BENCH_WARMUP_MS=500  node tooling/bench/process-cluster-bench.mjs
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { processIo, readSecret, upLocalCluster } from '../../packages/cli/dist/index.js'
import { LockstepClient } from '../../packages/client/dist/index.js'
import { realScheduler } from '../../packages/core/dist/index.js'
import { tcpClientTransport } from '../../packages/transport-tcp/dist/index.js'
import { measureClosedLoop } from './closed-loop.mjs'
import { machineInfo, report } from './table.mjs'

const durationMs = Number(process.env.BENCH_DURATION_MS ?? 3000)
const warmupMs = Number(process.env.BENCH_WARMUP_MS ?? 500)
const clientCounts = (process.env.BENCH_CLIENTS ?? '1,16,64').split(',').map(Number)

async function run(cluster, clientCount, round) {
  const secret = await readSecret(cluster.config, 'clientSecret', processIo)
  const ids = cluster.config.replicas.map((r) => r.id)
  const clients = []
  for (let i = 0; i < clientCount; i++) {
    const id = `bench-${round}-${i}`
    const transport = tcpClientTransport({
      self: id,
      clusterId: cluster.config.clusterId,
      replicas: cluster.config.replicas.map((r) => ({ id: r.id, host: r.host, port: r.port })),
      auth: { secret },
    })
    // Clients spread over the replicas, as a load balancer would.
    const replicas = [ids[i % ids.length], ...ids.filter((_, j) => j !== i % ids.length)]
    const client = new LockstepClient({ id, transport, replicas, scheduler: realScheduler(), retryAfterMs: 60_000 })
    await client.start()
    clients.push(client)
  }
  const measured = await measureClosedLoop(clients, { warmupMs, durationMs })
  for (const client of clients) await client.stop()
  return { clients: clientCount, ...measured }
}

const dir = await mkdtemp(join(tmpdir(), 'lockstep-bench-'))
const cluster = await upLocalCluster({ dir, replicas: 3, machine: 'kv', basePort: 0, logLevel: 'warn', onLog: (line) => console.error(line) })
try {
  const rows = []
  for (const [round, clients] of clientCounts.entries()) rows.push(await run(cluster, clients, round))
  report('process cluster: 3 lockstep replica processes, TCP on 127.0.0.1, Lamport ordering, kv put/get', rows, {
    machine: await machineInfo(),
    durationMs,
    warmupMs,
  })
} finally {
  await cluster.stop()
  await rm(dir, { recursive: true, force: true })
}
