// Lamport against real-time ordering, side by side in one run, 3 replicas, the kv machine:
// - in the simulator (virtual time, links of 2 ms, no CPU cost): the latency of a request at low load, with
//   two members idle (one client) and with every member busy (one client per replica), and the throughput of
//   64 closed-loop clients per virtual second;
// - over TCP (three `lockstep replica` processes on 127.0.0.1): the same low-load latency and 64-client
//   throughput on this machine.
//   BENCH_DURATION_MS=3000 BENCH_WARMUP_MS=500 node tooling/bench/ordering-bench.mjs
import { upLocalCluster } from '../../packages/cli/dist/index.js'
import { kv } from '../../packages/machines/dist/index.js'
import { lamport } from '../../packages/order-lamport/dist/index.js'
import { realtime } from '../../packages/order-realtime/dist/index.js'
import { SimCluster } from '../../packages/testkit/dist/index.js'
import { measureClosedLoop } from './closed-loop.mjs'
import { machineInfo, report } from './table.mjs'

const durationMs = Number(process.env.BENCH_DURATION_MS ?? 3000)
const warmupMs = Number(process.env.BENCH_WARMUP_MS ?? 500)
/** The simulated links: every message takes exactly this long (one hop). */
const HOP_MS = 2
/** The real-time orderer's bounds in the simulator: one hop, no skew (the simulated clocks agree), so Δ = 2 hops. */
const SIM_REALTIME = { maxDelayMs: HOP_MS, maxSkewMs: 0, heartbeatMs: 10 }
/** How far r3's clock runs behind in the lagging-clock column (the real-time orderer's skew bound is set to it there). */
const LAG_MS = 6
const orderers = {
  lamport: () => lamport({ heartbeatMs: 10 }),
  realtime: () => realtime(SIM_REALTIME),
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0

/**
 * Virtual-time latency of `requests` sequential puts from each of `clients` clients (client i at replica i mod 3);
 * with `lagMs`, r3's clock runs that far behind the others (within the real-time orderer's skew bound).
 */
async function simulatedLatency(order, clients, requests, lagMs = 0) {
  const orderer = order === 'realtime' && lagMs > 0 ? realtime({ ...SIM_REALTIME, maxSkewMs: lagMs }) : orderers[order]()
  const c = new SimCluster({ machine: kv, orderer, replicas: 3, membership: false, delay: { minMs: HOP_MS, maxMs: HOP_MS }, seed: 1 })
  if (lagMs > 0) c.clock('r3').setOffset(-lagMs)
  await c.start()
  const ids = ['r1', 'r2', 'r3']
  const started = await Promise.all(Array.from({ length: clients }, (_, i) => c.client(`c${i}`, [ids[i % 3]], 60_000)))
  const latencies = []
  const loops = started.map(async (client, i) => {
    for (let n = 0; n < requests; n++) {
      const t0 = c.scheduler.now()
      const reply = await client.submit({ name: 'put', args: { key: `k${i}`, value: `v${n}` } })
      if (!reply.ok) throw new Error(reply.error.message)
      latencies.push(c.scheduler.now() - t0)
    }
  })
  await c.until(Promise.all(loops), 600_000)
  await c.stop()
  latencies.sort((a, b) => a - b)
  return { 'p50 ms': pct(latencies, 50), 'p99 ms': pct(latencies, 99) }
}

/** Committed requests per virtual second of 64 closed-loop clients over `virtualMs`. */
async function simulatedThroughput(order, clients, virtualMs) {
  const c = new SimCluster({ machine: kv, orderer: orderers[order](), replicas: 3, membership: false, delay: { minMs: HOP_MS, maxMs: HOP_MS }, seed: 2 })
  await c.start()
  const ids = ['r1', 'r2', 'r3']
  const started = await Promise.all(Array.from({ length: clients }, (_, i) => c.client(`c${i}`, [ids[i % 3]], 60_000)))
  const end = c.scheduler.now() + virtualMs
  let committed = 0
  const loops = started.map(async (client, i) => {
    for (let n = 0; c.scheduler.now() < end; n++) {
      const reply = await client.submit({ name: 'put', args: { key: `k${i % 16}`, value: `v${n}` } })
      if (!reply.ok) throw new Error(reply.error.message)
      if (c.scheduler.now() <= end) committed++
    }
  })
  await c.until(Promise.all(loops), virtualMs + 60_000)
  await c.stop()
  return Math.round((committed / virtualMs) * 1000)
}

async function overTcp(order) {
  const cluster = await upLocalCluster({ replicas: 3, machine: 'kv', order, basePort: 0, logLevel: 'warn', onLog: (line) => console.error(line) })
  try {
    const rows = {}
    for (const [round, clientCount] of [1, 64].entries()) {
      const ids = cluster.replicas.map((r) => r.id)
      const clients = []
      for (let i = 0; i < clientCount; i++) clients.push(await cluster.client(`bench-${round}-${i}`, { preferred: ids[i % ids.length], retryAfterMs: 60_000 }))
      rows[clientCount] = await measureClosedLoop(clients, { warmupMs, durationMs })
      for (const client of clients) await client.stop()
    }
    return rows
  } finally {
    await cluster.stop()
  }
}

const simRows = []
const tcpRows = []
for (const order of Object.keys(orderers)) {
  const idle = await simulatedLatency(order, 1, 200)
  const busy = await simulatedLatency(order, 3, 200)
  const lagging = await simulatedLatency(order, 1, 200, LAG_MS)
  const throughput = await simulatedThroughput(order, 64, 2_000)
  simRows.push({
    order,
    'idle members p50 ms': idle['p50 ms'],
    'idle p99 ms': idle['p99 ms'],
    'all busy p50 ms': busy['p50 ms'],
    'busy p99 ms': busy['p99 ms'],
    [`r3 ${LAG_MS} ms behind p50 ms`]: lagging['p50 ms'],
    '64 clients req/virtual s': throughput,
  })
}
for (const order of Object.keys(orderers)) {
  const rows = await overTcp(order)
  tcpRows.push({ order, '1 client p50 ms': rows[1]['p50 ms'], '1 client p99 ms': rows[1]['p99 ms'], '64 clients commands/s': rows[64]['commands/s'], '64 p50 ms': rows[64]['p50 ms'], '64 p99 ms': rows[64]['p99 ms'] })
}
const machine = await machineInfo()
report(`ordering in the simulator: 3 replicas, links of ${HOP_MS} ms, realtime ${JSON.stringify(SIM_REALTIME)} (Δ = ${2 * HOP_MS} ms), kv puts`, simRows, { machine })
report('ordering over TCP: 3 lockstep replica processes on 127.0.0.1, realtime with its default bounds (Δ = 210 ms), kv put/get', tcpRows, { machine, durationMs, warmupMs })
