// The in-process rows of the etcd benchmark alone, for profiling: 3 replicas over the memory transport, memory
// storage, closed-loop clients. `node tooling/bench/in-process-rows.mjs [lamport|realtime|lamport,realtime] [clients]`,
// e.g. under `node --cpu-prof` (several orders run one after the other in this process, as `npm run bench` runs
// them). BENCH_DURATION_MS / BENCH_WARMUP_MS as in the other benchmarks; ROUNDS repeats the rows.
import { DEFAULT_TIMEOUTS } from '../../packages/cli/dist/index.js'
import { LockstepClient } from '../../packages/client/dist/index.js'
import { ReplicaHost } from '../../packages/core/dist/index.js'
import { realScheduler } from '../../packages/interface/dist/index.js'
import { kv } from '../../packages/machines/dist/index.js'
import { lamport } from '../../packages/order-lamport/dist/index.js'
import { realtime } from '../../packages/order-realtime/dist/index.js'
import { MemoryNetwork, memoryClientTransport, memoryTransport } from '../../packages/transport-memory/dist/index.js'
import { measureOperations } from './closed-loop.mjs'

const orders = (process.argv[2] ?? 'realtime').split(',')
const clientCount = Number(process.argv[3] ?? 64)
const timing = { warmupMs: Number(process.env.BENCH_WARMUP_MS ?? 500), durationMs: Number(process.env.BENCH_DURATION_MS ?? 3000) }
const rounds = Number(process.env.ROUNDS ?? 1)

async function row(order) {
  const scheduler = realScheduler()
  const network = new MemoryNetwork({ scheduler })
  const ids = ['r1', 'r2', 'r3']
  const orderer = () => (order === 'realtime' ? realtime({ heartbeatMs: DEFAULT_TIMEOUTS.heartbeatMs }) : lamport())
  const hosts = ids.map((id) => new ReplicaHost({ self: id, replicas: ids, machine: kv, orderer: orderer(), transport: memoryTransport({ network, replicas: ids }), scheduler, membership: false }))
  for (const host of hosts) await host.start()
  const clients = []
  for (let i = 0; i < clientCount; i++) {
    const client = new LockstepClient({ id: `c${i}`, transport: memoryClientTransport({ network, replicas: ids }), replicas: [ids[i % 3], ...ids.filter((_, j) => j !== i % 3)], scheduler, retryAfterMs: 60_000 })
    await client.start()
    clients.push(client)
  }
  const cpu = process.cpuUsage()
  const measured = await measureOperations(clients.length, async (i, n) => {
    const reply = await clients[i].submit({ name: 'put', args: { key: `k${i}`, value: `v${n}` } })
    if (!reply.ok) throw new Error(`put failed: ${reply.error.code}: ${reply.error.message}`)
  }, timing)
  const used = process.cpuUsage(cpu)
  const digests = new Set(hosts.map((h) => h.engine.stateDigest()))
  if (digests.size !== 1) throw new Error('the in-process replicas diverged during the benchmark')
  for (const client of clients) await client.stop()
  for (const host of hosts) await host.stop()
  const ops = measured['ops/s']
  const seconds = (timing.durationMs + timing.warmupMs) / 1000
  console.log(JSON.stringify({ order, clients: clientCount, 'ops/s': ops, 'p50 ms': measured['p50 ms'], 'cpu µs/op': Math.round(((used.user + used.system) / (ops * seconds)) * 100) / 100 }))
}

for (let i = 0; i < rounds; i++) for (const order of orders) await row(order)
