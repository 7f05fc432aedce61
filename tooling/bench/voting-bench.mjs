// The voters side by side in one run: first (fail-stop), majority and byzantine(1), 3 replicas, kv put/get.
// - over TCP (three `lockstep replica` processes on 127.0.0.1, Lamport ordering): latency of one client and
//   throughput and latency of 64 closed-loop clients, with every replica honest;
// - in the simulator (virtual time, links of 2 ms): the same at one client, with every replica honest and with
//   r3 lying to its clients (byzantine(1) outvotes it; first is fooled whenever r3 answers first).
//   BENCH_DURATION_MS=3000 BENCH_WARMUP_MS=500 node tooling/bench/voting-bench.mjs
import { upLocalCluster } from '../../packages/cli/dist/index.js'
import { byzantine, first, majority } from '../../packages/client/dist/index.js'
import { kv } from '../../packages/machines/dist/index.js'
import { lamport } from '../../packages/order-lamport/dist/index.js'
import { SimCluster } from '../../packages/testkit/dist/index.js'
import { measureClosedLoop } from './closed-loop.mjs'
import { machineInfo, report } from './table.mjs'

const durationMs = Number(process.env.BENCH_DURATION_MS ?? 3000)
const warmupMs = Number(process.env.BENCH_WARMUP_MS ?? 500)
const HOP_MS = 2
const voters = { first: first(), majority: majority(), 'byzantine(1)': byzantine(1) }
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0

/** Virtual-time latency of 200 sequential puts and gets from one client at r3; with `liar`, r3 lies to clients. */
async function simulated(name, liar) {
  const c = new SimCluster({ machine: kv, orderer: lamport({ heartbeatMs: 10 }), replicas: 3, membership: false, delay: { minMs: HOP_MS, maxMs: HOP_MS }, seed: 1, ...(liar ? { liars: { r3: { seed: 5 } } } : {}) })
  await c.start()
  const client = await c.client('c1', { replicas: ['r3', 'r1', 'r2'], retryAfterMs: 60_000, voter: voters[name] })
  const latencies = []
  let wrong = 0
  const loop = (async () => {
    for (let n = 0; n < 200; n++) {
      const t0 = c.scheduler.now()
      await client.submit({ name: 'put', args: { key: 'k', value: `v${n}` } })
      const reply = await client.submit({ name: 'get', args: { key: 'k' } })
      if (!reply.ok || reply.outputs[0]?.value?.value !== `v${n}`) wrong++
      latencies.push(c.scheduler.now() - t0)
    }
  })()
  await c.until(loop, 600_000)
  const dissent = client.dissent.events
  await c.stop()
  latencies.sort((a, b) => a - b)
  return { 'put+get p50 ms': pct(latencies, 50), 'p99 ms': pct(latencies, 99), 'wrong gets': wrong, 'dissent events': dissent }
}

async function overTcp() {
  const rows = []
  const cluster = await upLocalCluster({ replicas: 3, machine: 'kv', basePort: 0, logLevel: 'warn', onLog: (line) => console.error(line) })
  try {
    for (const name of Object.keys(voters)) {
      const row = { voter: name }
      for (const [round, count] of [1, 64].entries()) {
        const ids = cluster.replicas.map((r) => r.id)
        const clients = []
        const voter = name === 'first' ? 'first' : name === 'majority' ? 'majority' : 'byzantine'
        for (let i = 0; i < count; i++) clients.push(await cluster.client(`bench-${name}-${round}-${i}`, { preferred: ids[i % ids.length], retryAfterMs: 60_000, voter }))
        const measured = await measureClosedLoop(clients, { warmupMs, durationMs })
        for (const client of clients) await client.stop()
        if (count === 1) Object.assign(row, { '1 client p50 ms': measured['p50 ms'], '1 client p99 ms': measured['p99 ms'] })
        else Object.assign(row, { '64 clients commands/s': measured['commands/s'], '64 p50 ms': measured['p50 ms'], '64 p99 ms': measured['p99 ms'] })
      }
      rows.push(row)
    }
  } finally {
    await cluster.stop()
  }
  return rows
}

const simRows = []
for (const name of Object.keys(voters)) simRows.push({ voter: name, ...prefix('honest ', await simulated(name, false)), ...prefix('r3 lies ', await simulated(name, true)) })
const tcpRows = await overTcp()
const machine = await machineInfo()
report('voters over TCP: 3 lockstep replica processes on 127.0.0.1, Lamport ordering, kv put/get, every replica honest', tcpRows, { machine, durationMs, warmupMs })
report(`voters in the simulator: 3 replicas, links of ${HOP_MS} ms, one client at r3, 200 × (put, get); r3 honest or lying to clients`, simRows, { machine })

function prefix(text, row) {
  return Object.fromEntries(Object.entries(row).map(([key, value]) => [`${text}${key}`, value]))
}
