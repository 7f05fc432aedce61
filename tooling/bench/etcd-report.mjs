// The etcd comparison's report: the issue's goals, the side-by-side rows, the markdown section of
// docs/benchmarks.md and the SVG chart (vega-lite, rendered by vega in Node without a browser).
import { readFileSync, writeFileSync } from 'node:fs'
import * as vega from 'vega'
import { compile as compileVegaLite } from 'vega-lite'

export const MARK_START = '<!-- bench:etcd:start -->'
export const MARK_END = '<!-- bench:etcd:end -->'
const orderLabel = { lamport: 'Lamport', realtime: 'real time' }

/** The report's functions for one run's settings. */
export function etcdReport({ orders, putClientCounts, durationMs, warmupMs, echoMessages, DOC }) {

  const fmtInt = (n) => (n === undefined ? '—' : Math.round(n).toLocaleString('en-US'))
  const fmtMs = (n) => (n === undefined ? '—' : n < 10 ? n.toFixed(2) : n.toFixed(1))
  const fmtRatio = (r) => (r === undefined || !Number.isFinite(r) ? '—' : r >= 10 ? `${r.toFixed(0)}×` : `${r.toFixed(2)}×`)

  /**
   * One goal of the issue: `measured` against `target`, where more is better. Met, or missed by the factor still
   * to gain (target / measured), with the measured value.
   */
  function goal(name, measured, target, unit, note) {
    if (measured === undefined) return { goal: name, measured: '—', target: `≥ ${unit(target)}`, verdict: `not measured${note ? ` (${note})` : ''}` }
    const met = measured >= target
    return { goal: name, measured: unit(measured), target: `≥ ${unit(target)}`, verdict: met ? 'met' : `missed by ${(target / measured).toFixed(2)}× (${Math.round((1 - measured / target) * 100)} % short)` }
  }

  function goals(results, etcdNote) {
    const out = []
    for (const order of orders) {
      const label = `(${orderLabel[order]})`
      const puts = results.lockstepPuts[order] ?? {}
      const etcd = results.etcdPuts
      out.push(goal(`puts, 64 clients, fsync per batch: Lockstep ÷ etcd ${label}`, etcd?.[64] && puts[64] ? puts[64]['ops/s'] / etcd[64]['ops/s'] : undefined, 3, fmtRatio, etcdNote))
      const own = '64 own'
      out.push(goal(`puts, 64 clients with a connection each (each side), fsync per batch: Lockstep ÷ etcd ${label}`, etcd?.[own] && puts[own] ? puts[own]['ops/s'] / etcd[own]['ops/s'] : undefined, 3, fmtRatio, etcdNote))
      const pipelined = results.lockstepPipelined[order]
      out.push(goal(`puts, 64 concurrent calls on one client each side, fsync per batch: Lockstep ÷ etcd ${label}`, results.etcdPipelined && pipelined ? pipelined['ops/s'] / results.etcdPipelined['ops/s'] : undefined, 3, fmtRatio, etcdNote))
      // p50 at most half of etcd's: etcd's p50 ÷ Lockstep's at least 2.
      out.push(goal(`puts, 1 client: etcd's p50 ÷ Lockstep's p50 (Lockstep ≤ half of etcd's) ${label}`, etcd?.[1] && puts[1] ? etcd[1]['p50 ms'] / puts[1]['p50 ms'] : undefined, 2, fmtRatio, etcdNote))
      const locks = results.lockstepLocks[order]
      out.push(goal(`lock, 16 clients contending: pairs/s Lockstep ÷ etcd ${label}`, results.etcdLocks?.contended && locks?.[16] ? locks[16]['ops/s'] / results.etcdLocks.contended['ops/s'] : undefined, 20, fmtRatio, etcdNote))
      const tcp = results.tcpMemory[order]
      const inProcess = results.inProcess[order]
      out.push(goal(`3 processes over TCP, memory storage, 64 clients ÷ in-process 64 clients ${label}`, tcp && inProcess?.[64] ? tcp['ops/s'] / inProcess[64]['ops/s'] : undefined, 0.4, (r) => `${Math.round(r * 100)} %`))
      const tcpOwn = results.tcpMemoryOwn?.[order]
      out.push(goal(`3 processes over TCP, memory storage, 64 clients with a connection each ÷ in-process 64 clients ${label}`, tcpOwn && inProcess?.[64] ? tcpOwn['ops/s'] / inProcess[64]['ops/s'] : undefined, 0.4, (r) => `${Math.round(r * 100)} %`))
      const tcpPipelined = results.tcpMemoryPipelined[order]
      out.push(goal(`3 processes over TCP, memory storage, 64 calls on one client ÷ in-process 64 clients ${label}`, tcpPipelined && inProcess?.[64] ? tcpPipelined['ops/s'] / inProcess[64]['ops/s'] : undefined, 0.4, (r) => `${Math.round(r * 100)} %`))
      out.push(goal(`in-process, 3 replicas, 64 clients: commands/s ${label}`, inProcess?.[64]?.['ops/s'], 200_000, fmtInt))
    }
    // What the 40 % goal asks of the machine itself: 64 plain connections echoing frames, nothing replicated.
    const floor = results.roundTrips64?.['round trips/s']
    const best = Math.max(0, ...orders.map((o) => results.inProcess[o]?.[64]?.['ops/s'] ?? 0))
    if (floor !== undefined && best > 0) {
      out.push(goal('for reference: 64 plain node:net connections echoing 100-byte frames (no replication) ÷ the best in-process 64 clients', floor / best, 0.4, (r) => `${Math.round(r * 100)} %`))
    }
    return out
  }

  /** The rows of the side-by-side table (and of the chart). */
  function comparisonRows(results) {
    const rows = []
    const cell = (m) => (m ? { ops: m['ops/s'], p50: m['p50 ms'], p99: m['p99 ms'] } : undefined)
    for (const count of putClientCounts) {
      rows.push({ workload: `puts, ${count} client${count === 1 ? '' : 's'}, fsync per batch`, unit: 'puts/s', lockstep: Object.fromEntries(orders.map((o) => [o, cell(results.lockstepPuts[o]?.[count])])), etcd: cell(results.etcdPuts?.[count]) })
    }
    rows.push({ workload: 'puts, 64 clients with a connection each, fsync per batch', unit: 'puts/s', lockstep: Object.fromEntries(orders.map((o) => [o, cell(results.lockstepPuts[o]?.['64 own'])])), etcd: cell(results.etcdPuts?.['64 own']) })
    rows.push({ workload: 'puts, 64 concurrent calls on one client, fsync per batch', unit: 'puts/s', lockstep: Object.fromEntries(orders.map((o) => [o, cell(results.lockstepPipelined[o])])), etcd: cell(results.etcdPipelined) })
    rows.push({ workload: 'lock, 1 client', unit: 'pairs/s', lockstep: Object.fromEntries(orders.map((o) => [o, cell(results.lockstepLocks[o]?.[1])])), etcd: cell(results.etcdLocks?.single) })
    rows.push({ workload: 'lock, 16 clients contending for one lock', unit: 'pairs/s', lockstep: Object.fromEntries(orders.map((o) => [o, cell(results.lockstepLocks[o]?.[16])])), etcd: cell(results.etcdLocks?.contended) })
    rows.push({ workload: 'lock, 16 clients on distinct locks', unit: 'pairs/s', lockstep: Object.fromEntries(orders.map((o) => [o, cell(results.lockstepLocks[o]?.distinct)])), etcd: cell(results.etcdLocks?.distinct) })
    return rows
  }

  function markdown(results, context) {
    const rows = comparisonRows(results)
    const lines = []
    lines.push(`Measured by \`npm run bench -- etcd\` (\`tooling/bench/etcd-bench.mjs\`) on ${context.date}: ${context.machine.cpus}-core ${context.machine.cpuModel}, ${context.machine.memoryGiB} GiB, Node.js ${context.machine.node}, ${context.etcd ? `etcd ${context.etcd.version}` : 'no etcd'}; load average ${context.loadBefore} when it started and ${context.loadAfter} when it ended (the machine was shared with other work: single runs vary).${probeSentence(context.cpuProbes)} ${durationMs / 1000} s measured per row after ${warmupMs / 1000} s of warm-up; closed-loop clients (one request in flight each) in the benchmark process; everything on 127.0.0.1. Rows ran in this order: the echo ceiling; the in-process rows of each orderer; a first pass over the etcd rows; then for each orderer the TCP memory-storage rows, the rows of 64 calls on one client (memory, then file storage), the file-storage puts and the locks; the floor of 64 plain connections; a second pass over the etcd rows, on a fresh etcd. Each etcd row shows the better of its two passes (more operations/s), so that a slow stretch of the machine during the Lockstep rows cannot favour Lockstep; both passes are in the JSON (\`raw.etcdPasses\`).`)
    lines.push('')
    if (!context.etcd) lines.push(`**etcd was not measured:** ${context.etcdNote}. The etcd columns are empty.`, '')
    lines.push('Lockstep: three `lockstep replica` processes (`cluster up`), file storage with an fsync per batch (`--storage file`), clients over TCP spread over the replicas; a row starts once every replica of the fresh cluster answered one command. etcd: three members with their own data directories (an fsync of the WAL per batch, its default), one `etcd3` client per closed-loop client, client *i* talking to member *i* mod 3. The clients of each side share one connection to each server, as the clients of one application process do: etcd3\'s by default (grpc-js keeps one pool of connections per process: 64 `etcd3` clients open one connection to each member), Lockstep\'s with `shareConnections` (one connection to each replica, each message naming its client); the rows "64 clients with a connection each" give every client connections of its own on both sides (etcd3 with `grpc.use_local_subchannel_pool`), as clients in separate processes have. Puts write key `k<i>` of client *i*. The row "64 concurrent calls on one client" shares one client among 64 closed-loop callers on each side, as an application\'s concurrent calls share its client: one `LockstepClient` (its requests pipelined on its connection to one replica) and one `etcd3` client of the three members (gRPC multiplexes the calls on HTTP/2). A lock pair is an acquire and a release: Lockstep with the lock service\'s `LockClient` on the safe mutex (`apps/lock-service/specs/safe-mutex.sm`), and for distinct locks on its named locks (`apps/lock-service/specs/named-mutex.sm`, client *i* on lock `lock-<i>`), etcd with a lease per client and the mutex of `etcdctl lock` (a key per waiter under the lock\'s prefix, granted in creation order, waiting on a watch).')
    lines.push('')
    const head = ['workload', ...orders.flatMap((o) => [`Lockstep ${orderLabel[o]}`, 'p50 / p99 ms']), 'etcd', 'p50 / p99 ms', ...orders.map((o) => `${orderLabel[o]} ÷ etcd`)]
    lines.push(`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`)
    for (const row of rows) {
      const lat = (c) => (c ? `${fmtMs(c.p50)} / ${fmtMs(c.p99)}` : '—')
      const ops = (c, note) => (c ? `${fmtInt(c.ops)} ${row.unit}` : note ?? '—')
      lines.push(`| ${[
        row.workload,
        ...orders.flatMap((o) => [ops(row.lockstep[o], row.lockstepNote), lat(row.lockstep[o])]),
        ops(row.etcd),
        lat(row.etcd),
        ...orders.map((o) => (row.lockstep[o] && row.etcd ? fmtRatio(row.lockstep[o].ops / row.etcd.ops) : '—')),
      ].join(' | ')} |`)
    }
    lines.push('')
    if (results.etcdTryLock) lines.push(`For reference, etcd3's own \`client.lock()\` (a try-lock that fails when the lock is held: a lease granted, a put, the lease revoked per pair), 1 client: ${fmtInt(results.etcdTryLock['ops/s'])} pairs/s, p50 ${fmtMs(results.etcdTryLock['p50 ms'])} ms.`, '')
    lines.push('Lockstep alone, puts, memory storage:', '')
    lines.push(`| setting | ${orders.map((o) => `${orderLabel[o]}: puts/s (p50 / p99 ms)`).join(' | ')} |`, `|---|${orders.map(() => '---:').join('|')}|`)
    const alone = (m) => (m ? `${fmtInt(m['ops/s'])} (${fmtMs(m['p50 ms'])} / ${fmtMs(m['p99 ms'])})` : '—')
    lines.push(`| in-process (memory transport), 1 client | ${orders.map((o) => alone(results.inProcess[o]?.[1])).join(' | ')} |`)
    lines.push(`| in-process (memory transport), 64 clients | ${orders.map((o) => alone(results.inProcess[o]?.[64])).join(' | ')} |`)
    lines.push(`| 3 processes over TCP, 64 clients | ${orders.map((o) => alone(results.tcpMemory[o])).join(' | ')} |`)
    lines.push(`| 3 processes over TCP, 64 clients with a connection each | ${orders.map((o) => alone(results.tcpMemoryOwn?.[o])).join(' | ')} |`)
    lines.push(`| 3 processes over TCP, 64 concurrent calls on one client | ${orders.map((o) => alone(results.tcpMemoryPipelined[o])).join(' | ')} |`)
    lines.push('')
    lines.push(`The ceiling on this machine in the same run: plain \`node:net\` + msgpackr, 100-byte frames echoed over one connection: **${fmtInt(results.echoFramesPerS)} frames/s** (median of 3 rounds of ${fmtInt(echoMessages)}).`, '')
    const floor = results.roundTrips64
    if (floor) {
      lines.push(
        `The floor of the "64 clients with a connection each" rows in the same run: 64 plain \`node:net\` connections from the benchmark process to an echo server in a process of its own, each a closed loop of one 100-byte msgpack frame that the server decodes and writes back (one write per frame at each end, no replication, no second replica): **${fmtInt(floor['round trips/s'])} round trips/s**, ${floor['cpu µs per round trip']} µs of CPU per round trip in the two processes. A Lockstep request from a client with its own connection makes that round trip and, besides, the replicas' messages and the execution on every replica.`,
        '',
      )
    }
    lines.push('The goals of issue 14, as measured in this run:', '')
    lines.push('| goal | measured | target | verdict |', '|---|---:|---:|---|')
    for (const g of results.goals) lines.push(`| ${g.goal} | ${g.measured} | ${g.target} | ${g.verdict} |`)
    lines.push('')
    lines.push('![Throughput of each workload, Lockstep and etcd, log scale](images/benchmarks.svg)')
    return lines.join('\n')
  }

  /** A grouped bar chart of throughput per workload and system (log scale), as SVG, rendered by vega in Node. */
  async function chartSvg(results, context) {
    const values = []
    for (const row of comparisonRows(results)) {
      for (const o of orders) if (row.lockstep[o]) values.push({ workload: row.workload, system: `Lockstep (${orderLabel[o]})`, ops: row.lockstep[o].ops })
      if (row.etcd) values.push({ workload: row.workload, system: `etcd ${context.etcd?.version ?? ''}`.trim(), ops: row.etcd.ops })
    }
    const spec = {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title: { text: 'Lockstep and etcd: operations/s (puts/s, lock pairs/s), 3 members on 127.0.0.1', subtitle: `${context.date}, ${context.machine.cpus}-core ${context.machine.cpuModel}, load average ${context.loadBefore}` },
      width: 520,
      data: { values },
      mark: { type: 'bar', tooltip: true },
      encoding: {
        y: { field: 'workload', type: 'nominal', sort: null, title: null, axis: { labelLimit: 0 } },
        yOffset: { field: 'system', type: 'nominal' },
        // An explicit domain (powers of ten around the data): bars on a log scale need a baseline above zero.
      x: { field: 'ops', type: 'quantitative', stack: null, scale: { type: 'log', domain: logDomain(values.map((v) => v.ops)) }, title: 'operations/s (log scale)' },
        color: { field: 'system', type: 'nominal', title: null, legend: { orient: 'bottom', labelLimit: 0 } },
      },
      config: { font: 'sans-serif' },
    }
    const view = new vega.View(vega.parse(compileVegaLite(spec).spec), { renderer: 'none' })
    try {
      return await view.toSVG()
    } finally {
      view.finalize()
    }
  }

  /** Powers of ten around the values, for a log axis. */
  function logDomain(numbers) {
    const positive = numbers.filter((n) => n > 0)
    if (positive.length === 0) return [1, 10]
    return [10 ** Math.floor(Math.log10(Math.min(...positive))), 10 ** Math.ceil(Math.log10(Math.max(...positive)))]
  }

  function rewriteDoc(section) {
    const text = readFileSync(DOC, 'utf8')
    const start = text.indexOf(MARK_START)
    const end = text.indexOf(MARK_END)
    if (start < 0 || end < start) throw new Error(`${DOC} has no section between ${MARK_START} and ${MARK_END}: add the two markers where the results belong`)
    writeFileSync(DOC, `${text.slice(0, start + MARK_START.length)}\n${section}\n${text.slice(end)}`)
  }

  return { goals, comparisonRows, markdown, chartSvg, rewriteDoc }
}

/** How fast the CPU was during the run: a fixed piece of JavaScript (`cpuProbe`, tooling/bench/table.mjs), timed between rows. */
function probeSentence(probes) {
  if (!probes || probes.length === 0) return ''
  const micros = probes.map((p) => p.micros)
  const inProcess = probes.filter((p) => p.label.endsWith('in-process, 64 clients')).map((p) => `${p.label.split(' ')[0]} ${p.micros} µs`)
  return ` The CPU's speed moved during the run: a fixed piece of JavaScript (\`cpuProbe\` in tooling/bench/table.mjs, lower is faster) took ${Math.min(...micros)}–${Math.max(...micros)} µs over ${probes.length} probes between rows${inProcess.length > 0 ? ` (just before the in-process 64-client rows: ${inProcess.join(', ')})` : ''}. The in-process rows swing between runs more than the probe explains (see "Runs 8–11" below).`
}
