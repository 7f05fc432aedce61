// Three replicas and their clients in ONE process, talking TCP on 127.0.0.1 (Lamport, kv, memory storage): what
// the TCP transport and the msgpack codec cost per request without the process boundary (no wake-up of another
// process per write, no four processes sharing two cores). Beside the process cluster's figures it splits the gap
// between in-process (memory transport) and three processes over TCP in two. Runs the built dists:
//   BENCH_DURATION_MS=5000 node tooling/bench/one-process-tcp.mjs
import { ReplicaHost } from '../../packages/core/dist/index.js'
import { LockstepClient } from '../../packages/client/dist/index.js'
import { realScheduler, silentLogger } from '../../packages/interface/dist/index.js'
import { kv } from '../../packages/machines/dist/index.js'
import { lamport } from '../../packages/order-lamport/dist/index.js'
import { tcp, tcpClient } from '../../packages/transport-tcp/dist/index.js'
import { machineInfo, report } from './table.mjs'

const durationMs = Number(process.env.BENCH_DURATION_MS ?? 5000)
const warmupMs = Number(process.env.BENCH_WARMUP_MS ?? 1000)
const HOST = '127.0.0.1'
const ids = ['r1', 'r2', 'r3']
const replicaSecret = 'one-process-replica-secret-0123456789'
const clientSecret = 'one-process-client-secret-0123456789'

/** `clientCount` clients, each with its own connections and `inFlight` closed loops of puts; commands/s and CPU per put. */
async function run(clientCount, inFlight) {
  const factories = ids.map(() =>
    tcp({
      clusterId: 'one-process',
      listen: { host: HOST, port: 0 },
      peers: ids.map((id) => ({ id, host: HOST, port: 0 })),
      auth: { secret: replicaSecret },
      clients: { secret: clientSecret },
      limits: { maxConnectionsPerAddress: 4 * clientCount + 16 },
    }),
  )
  const transports = ids.map((id, i) => factories[i]({ self: id, scheduler: realScheduler(), log: silentLogger }))
  const ports = await Promise.all(transports.map((t) => t.bind()))
  transports.forEach((t, i) => ids.forEach((peer, j) => i !== j && t.setPeerAddress(peer, HOST, ports[j].port)))
  const hosts = ids.map((id, i) => new ReplicaHost({ self: id, replicas: ids, machine: kv, orderer: lamport(), transport: () => transports[i], scheduler: realScheduler() }))
  for (const host of hosts) await host.start()
  const clients = []
  for (let c = 0; c < clientCount; c++) {
    const replicas = ids.map((id, j) => ({ id, host: HOST, port: ports[j].port }))
    const client = new LockstepClient({ id: `one-${c}`, transport: tcpClient({ clusterId: 'one-process', replicas, auth: { secret: clientSecret } }), replicas: [ids[c % 3], ...ids.filter((_, j) => j !== c % 3)], retryAfterMs: 60_000 })
    await client.start()
    clients.push(client)
  }
  let running = true
  let completed = 0
  const loops = clients.flatMap((client) =>
    Array.from({ length: inFlight }, async (_, k) => {
      for (let n = 0; running; n++) {
        const reply = await client.submit({ name: 'put', args: { key: `k${(k + n) % 16}`, value: `v${n}` } })
        if (!reply.ok) throw new Error(reply.error.message)
        completed++
      }
    }),
  )
  await new Promise((resolve) => setTimeout(resolve, warmupMs))
  const startCount = completed
  const startCpu = process.cpuUsage()
  const started = performance.now()
  await new Promise((resolve) => setTimeout(resolve, durationMs))
  const seconds = (performance.now() - started) / 1000
  const cpu = process.cpuUsage(startCpu)
  const puts = completed - startCount
  running = false
  await Promise.all(loops)
  for (const client of clients) await client.stop()
  for (const host of hosts) await host.stop()
  return {
    clients: clientCount,
    'in flight each': inFlight,
    'commands/s': Math.round(puts / seconds),
    'CPU %': Math.round(((cpu.user + cpu.system) / 1e4 / seconds)),
    'CPU µs per put': Math.round(((cpu.user + cpu.system) / puts) * 10) / 10,
  }
}

const rows = []
for (const [clientCount, inFlight] of [[1, 64], [1, 256], [64, 1]]) rows.push(await run(clientCount, inFlight))
report('one process: 3 replicas and their clients over TCP on 127.0.0.1, Lamport, kv puts, memory storage', rows, { machine: await machineInfo(), durationMs, warmupMs })
process.exit(0)
