// Lockstep side by side with etcd, in one run on one machine (issue 14, item 2):
// - puts with 1, 16, 64 and 256 closed-loop clients, fsync per batch on both sides (Lockstep: three
//   `lockstep replica` processes with file storage, `--storage file`; etcd: three members, which fsync their
//   WAL per batch by default), per Lockstep orderer;
// - the lock: acquire + release pairs/s with 1 client, with 16 clients contending for one lock, and with 16
//   clients on distinct locks; Lockstep with the lock service's client (apps/lock-service) on the safe mutex
//   (apps/lock-service/specs/safe-mutex.sm, file storage; distinct locks on its named locks, specs/named-mutex.sm), etcd with a lease per client and the mutex of
//   `etcdctl lock` (etcd's concurrency.Mutex: a key under the lock's prefix bound to the lease, granted in the
//   order of creation revisions, waiting on a watch for the key ahead to go);
// - Lockstep alone: 3 processes over TCP with memory storage, 64 clients; 3 replicas in one process over the
//   memory transport, 1 and 64 clients; the ceiling, plain node:net + msgpackr echo frames/s; the floor of 64
//   separate connections, plain node:net round trips/s.
// It prints a table and one JSON line, the issue's goals with their measured ratios ("met" / "missed by X"),
// and rewrites the section of docs/benchmarks.md between <!-- bench:etcd:start --> and <!-- bench:etcd:end -->
// with a markdown table and docs/images/benchmarks.svg (a vega-lite chart rendered to SVG in Node).
// Without `etcd` on the PATH (Debian's etcd-server; installed with apt-get when run as root) it says so and
// leaves out the etcd rows. Every etcd process it starts is stopped by pid at the end, also on failure.
//
//   BENCH_DURATION_MS=3000 BENCH_WARMUP_MS=500   time measured / warm-up, per row
//   BENCH_ETCD_CLIENTS=1,16,64,256               the put rows' client counts
//   BENCH_ETCD_ORDERS=lamport,realtime           the Lockstep orderers
//   BENCH_ETCD_INSTALL=0                         never apt-get install etcd-server
//   BENCH_ETCD_DOCS=0                            print only; leave docs/ alone
//   BENCH_MESSAGES=200000                        messages per round of the echo ceiling (median of 3 rounds)
//   BENCH_ETCD_SIDES=lockstep,etcd               run only one side (and write no docs)
import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Etcd3 } from 'etcd3'
import { LockClient } from '../../apps/lock-service/dist/index.js'
import { DEFAULT_TIMEOUTS, freePorts, upLocalCluster } from '../../packages/cli/dist/index.js'
import { LockstepClient } from '../../packages/client/dist/index.js'
import { ReplicaHost } from '../../packages/core/dist/index.js'
import { realScheduler } from '../../packages/interface/dist/index.js'
import { kv } from '../../packages/machines/dist/index.js'
import { lamport } from '../../packages/order-lamport/dist/index.js'
import { realtime } from '../../packages/order-realtime/dist/index.js'
import { MemoryNetwork, memoryClientTransport, memoryTransport } from '../../packages/transport-memory/dist/index.js'
import { measureOperations } from './closed-loop.mjs'
import { plainRoundTrips, plainRun } from './plain-net.mjs'
import { MARK_END, MARK_START, etcdReport } from './etcd-report.mjs'
import { cpuProbe, machineInfo, report } from './table.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const repoRoot = join(here, '..', '..')
const durationMs = Number(process.env.BENCH_DURATION_MS ?? 3000)
const warmupMs = Number(process.env.BENCH_WARMUP_MS ?? 500)
const putClientCounts = (process.env.BENCH_ETCD_CLIENTS ?? '1,16,64,256').split(',').map(Number)
const orders = (process.env.BENCH_ETCD_ORDERS ?? 'lamport,realtime').split(',')
const mayInstall = process.env.BENCH_ETCD_INSTALL !== '0'
const writeDocs = process.env.BENCH_ETCD_DOCS !== '0'
const echoMessages = Number(process.env.BENCH_MESSAGES ?? 200_000)
const sides = (process.env.BENCH_ETCD_SIDES ?? 'lockstep,etcd').split(',')
const timing = { warmupMs, durationMs }
const SAFE_MUTEX = join(repoRoot, 'apps', 'lock-service', 'specs', 'safe-mutex.sm')
const NAMED_MUTEX = join(repoRoot, 'apps', 'lock-service', 'specs', 'named-mutex.sm')
/** The lease of each etcd lock client, as `etcdctl lock`'s session (its default TTL is 60 s; any is fine here). */
const LOCK_TTL_S = 30
const DOC = join(repoRoot, 'docs', 'benchmarks.md')
const CHART = join(repoRoot, 'docs', 'images', 'benchmarks.svg')
const { goals, comparisonRows, markdown, chartSvg, rewriteDoc } = etcdReport({ orders, putClientCounts, durationMs, warmupMs, echoMessages, DOC })
const putCommand = (i, n) => ({ name: 'put', args: { key: `k${i}`, value: `v${n}` } })

// --- Lockstep -----------------------------------------------------------------------------------

/**
 * `count` started clients of a process cluster, spread over its replicas (client i prefers replica i mod 3). They
 * share one connection to each replica (`shareConnections`), as the etcd3 clients of this process share one to each
 * member, unless `share` is false: a connection each.
 */
async function processClients(cluster, count, tag, share = true) {
  const ids = cluster.replicas.map((r) => r.id)
  const clients = []
  for (let i = 0; i < count; i++) {
    clients.push(await cluster.client(`bench-${tag}-${i}`, { preferred: ids[i % ids.length], retryAfterMs: 60_000, shareConnections: share }))
  }
  return clients
}

/**
 * Waits until every replica of a fresh cluster answers: one command entering at each (a put, or a release of the
 * lock nobody holds). A cluster just started may still be settling (a replica started late holds up the real-time
 * order, a replica may still be joining): the first requests of a row would then measure its start, not its work.
 */
async function untilServing(cluster, command) {
  const ids = cluster.replicas.map((r) => r.id)
  for (const id of ids) {
    const client = await cluster.client(`bench-ready-${id}`, { preferred: id, retryAfterMs: 200 })
    try {
      const reply = await client.submit(command, { timeoutMs: 30_000 })
      if (!reply.ok) throw new Error(`the cluster answered ${reply.error.code}: ${reply.error.message}`)
    } finally {
      await client.stop()
    }
  }
}

async function stopAll(clients) {
  await Promise.all(clients.map((c) => c.stop()))
}

async function measurePuts(clients) {
  return measureOperations(clients.length, async (i, n) => {
    const reply = await clients[i].submit(putCommand(i, n))
    if (!reply.ok) throw new Error(`put failed: ${reply.error.code}: ${reply.error.message}`)
  }, timing)
}

/**
 * Runs `work` on a fresh 3-process cluster of `machine` (`storage` 'file' fsyncs each replica's WAL per batch)
 * once every replica answered `ready`, checks that the replicas agree after it, and stops the cluster.
 */
async function withCluster({ order, machine, storage, ready }, work) {
  const extra = storage === 'file' ? { storage: { type: 'file', dir: 'data', sync: 'batch' } } : undefined
  const cluster = await upLocalCluster({ replicas: 3, machine, order, basePort: 0, logLevel: 'warn', onLog: (line) => console.error(line), extra })
  try {
    await untilServing(cluster, ready)
    const results = await work(cluster)
    await checkAgreement(cluster)
    return results
  } finally {
    await cluster.stop()
  }
}

/**
 * Puts over TCP to three `lockstep replica` processes, with each count of closed-loop clients in turn (sharing one
 * connection to each replica), then with each count of `ownCounts` clients with a connection each (keyed `<n> own`).
 */
async function lockstepTcpPuts(order, storage, clientCounts, ownCounts = []) {
  return withCluster({ order, machine: 'kv', storage, ready: putCommand(0, 0) }, async (cluster) => {
    const results = {}
    const runs = [...clientCounts.map((count) => ({ count, share: true })), ...ownCounts.map((count) => ({ count, share: false }))]
    for (const { count, share } of runs) {
      const key = share ? count : `${count} own`
      const clients = await processClients(cluster, count, `${storage}-${key.toString().replace(' ', '-')}`, share)
      try {
        results[key] = await measurePuts(clients)
      } finally {
        await stopAll(clients)
      }
      console.error(`  lockstep ${order} ${storage} puts, ${count} clients${share ? '' : ' with a connection each'}: ${results[key]['ops/s']} ops/s`)
    }
    return results
  })
}

/**
 * Puts from `workers` closed-loop callers sharing one client (pipelined: many requests in flight on its
 * connection, the way an application's concurrent calls share its client). Over TCP, `storage` as above.
 */
async function lockstepPipelinedPuts(order, storage, workers) {
  return withCluster({ order, machine: 'kv', storage, ready: putCommand(0, 0) }, async (cluster) => {
    const client = await cluster.client(`bench-pipelined-${storage}`, { retryAfterMs: 60_000 })
    try {
      const measured = await measurePuts(Array.from({ length: workers }, () => client))
      console.error(`  lockstep ${order} ${storage} puts, ${workers} calls on one client: ${measured['ops/s']} ops/s`)
      return measured
    } finally {
      await client.stop()
    }
  })
}

/** Acquire + release pairs, `count` clients in turn, each with the lock service's client (`lockOf(client, i)`). */
async function measureLockPairs(cluster, order, counts, tag, lockOf) {
  const results = {}
  for (const count of counts) {
    const clients = await processClients(cluster, count, `${tag}-${count}`)
    const locks = clients.map(lockOf)
    try {
      results[count] = await measureOperations(count, async (i) => {
        await locks[i].acquire()
        await locks[i].release()
      }, timing)
    } finally {
      await stopAll(clients)
    }
    console.error(`  lockstep ${order} ${tag} pairs, ${count} clients: ${results[count]['ops/s']} pairs/s`)
  }
  return results
}

/**
 * Acquire + release pairs with the lock service's client, file storage (fsync per batch): on the safe mutex
 * (one lock) with 1 client and 16 contending, then on the named locks of `specs/named-mutex.sm`, 16 clients
 * each on its own lock.
 */
async function lockstepLocks(order) {
  const oneLock = await withCluster({ order, machine: SAFE_MUTEX, storage: 'file', ready: { name: 'release' } }, (cluster) =>
    measureLockPairs(cluster, order, [1, 16], 'lock', (client) => new LockClient(client)),
  )
  const named = await withCluster({ order, machine: NAMED_MUTEX, storage: 'file', ready: { name: 'release', args: { lock: 'ready' } } }, (cluster) =>
    measureLockPairs(cluster, order, [16], 'distinct-lock', (client, i) => new LockClient(client, { lock: `lock-${i}` })),
  )
  return { ...oneLock, distinct: named[16] }
}

/** Every replica of a process cluster at the same position with the same state, or the run is not worth reporting. */
async function checkAgreement(cluster) {
  let statuses = []
  // The last deliveries may still be on their way to a replica: compare digests once the positions are equal.
  for (let attempt = 0; attempt < 100; attempt++) {
    statuses = await cluster.status()
    if (statuses.length === 3 && new Set(statuses.map((s) => s.position)).size === 1) break
    await new Promise((r) => setTimeout(r, 100))
  }
  const digests = new Set(statuses.map((s) => `${s.position}:${s.digest}`))
  if (statuses.length !== 3 || digests.size !== 1) throw new Error(`the replicas disagree after the benchmark: ${JSON.stringify(statuses)}`)
}

function ordererFactory(order) {
  return order === 'realtime' ? realtime({ heartbeatMs: DEFAULT_TIMEOUTS.heartbeatMs }) : lamport()
}

/** Puts to 3 replicas in this process over the memory transport, memory storage. */
async function inProcessPuts(order, clientCount) {
  const scheduler = realScheduler()
  const network = new MemoryNetwork({ scheduler })
  const ids = ['r1', 'r2', 'r3']
  const hosts = ids.map((id) => new ReplicaHost({ self: id, replicas: ids, machine: kv, orderer: ordererFactory(order), transport: memoryTransport({ network, replicas: ids }), scheduler, membership: false }))
  for (const host of hosts) await host.start()
  const clients = []
  try {
    for (let i = 0; i < clientCount; i++) {
      const client = new LockstepClient({ id: `c${i}`, transport: memoryClientTransport({ network, replicas: ids }), replicas: [ids[i % 3], ...ids.filter((_, j) => j !== i % 3)], scheduler, retryAfterMs: 60_000 })
      await client.start()
      clients.push(client)
    }
    const measured = await measurePuts(clients)
    const digests = new Set(hosts.map((h) => h.engine.stateDigest()))
    if (digests.size !== 1) throw new Error('the in-process replicas diverged during the benchmark')
    console.error(`  lockstep ${order} in-process puts, ${clientCount} clients: ${measured['ops/s']} ops/s`)
    return measured
  } finally {
    await stopAll(clients)
    for (const host of hosts) await host.stop()
  }
}

/** Frames/s of the plain node:net + msgpackr echo (a frame counts when its echo is back), median of 3 rounds. */
async function echoCeiling() {
  await plainRun({ echo: true, messages: echoMessages }) // warm-up
  const times = []
  for (let round = 0; round < 3; round++) times.push(await plainRun({ echo: true, messages: echoMessages }))
  times.sort((a, b) => a - b)
  return Math.round((echoMessages / times[1]) * 1000)
}

// --- etcd ---------------------------------------------------------------------------------------

/** The etcd binary on the PATH, installing Debian's etcd-server first when allowed and run as root. */
function findEtcd() {
  const which = () => {
    const found = spawnSync('sh', ['-c', 'command -v etcd'], { encoding: 'utf8' })
    return found.status === 0 ? found.stdout.trim() : undefined
  }
  let bin = which()
  if (bin === undefined && mayInstall && process.getuid?.() === 0) {
    console.error('etcd is not on the PATH: installing Debian\'s etcd-server (apt-get; BENCH_ETCD_INSTALL=0 to skip)')
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
    const install = () => spawnSync('apt-get', ['install', '-y', '-q', 'etcd-server'], { stdio: ['ignore', 'ignore', 'inherit'], env }).status === 0
    if (!install()) {
      spawnSync('apt-get', ['update', '-q'], { stdio: ['ignore', 'ignore', 'inherit'], env })
      if (!install()) console.error('apt-get install etcd-server failed')
    }
    bin = which()
  }
  if (bin === undefined) return undefined
  const version = /etcd Version: (\S+)/.exec(spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout ?? '')?.[1] ?? 'unknown'
  return { bin, version }
}

/** Every etcd process started and not yet seen to exit, by pid: killed on any way out of this process. */
const etcdChildren = new Map()
process.on('exit', () => {
  for (const child of etcdChildren.values()) child.kill('SIGKILL')
})
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    console.error(`${signal}: stopping etcd (pids ${[...etcdChildren.keys()].join(', ') || 'none'}) and leaving`)
    process.exit(130)
  })
}

/** Starts a 3-member etcd on 127.0.0.1 (free client and peer ports, data directories in a fresh temporary directory). */
async function startEtcd(bin) {
  const ports = await freePorts(6)
  const dataDir = mkdtempSync(join(tmpdir(), 'lockstep-bench-etcd-'))
  const members = [0, 1, 2].map((i) => ({ name: `e${i + 1}`, client: `http://127.0.0.1:${ports[i]}`, peer: `http://127.0.0.1:${ports[i + 3]}` }))
  const initialCluster = members.map((m) => `${m.name}=${m.peer}`).join(',')
  // One token for the three: members started with different tokens form different clusters.
  const clusterToken = `lockstep-bench-${randomBytes(4).toString('hex')}`
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('ETCD')))
  const logs = new Map()
  const children = members.map((m) => {
    const child = spawn(bin, [
      '--name', m.name, '--data-dir', join(dataDir, m.name),
      '--listen-client-urls', m.client, '--advertise-client-urls', m.client,
      '--listen-peer-urls', m.peer, '--initial-advertise-peer-urls', m.peer,
      '--initial-cluster', initialCluster, '--initial-cluster-token', clusterToken,
      '--initial-cluster-state', 'new', '--logger', 'zap', '--log-outputs', 'stderr', '--log-level', 'warn',
    ], { stdio: ['ignore', 'ignore', 'pipe'], env })
    etcdChildren.set(child.pid, child)
    logs.set(m.name, '')
    child.stderr.setEncoding('utf8').on('data', (chunk) => logs.set(m.name, (logs.get(m.name) + chunk).slice(-1500)))
    child.once('exit', () => etcdChildren.delete(child.pid))
    return child
  })
  const stop = async () => {
    await Promise.all(children.map((child) => stopProcess(child)))
    rmSync(dataDir, { recursive: true, force: true })
  }
  try {
    const probe = etcdClient(members.map((m) => m.client))
    const deadline = performance.now() + 30_000
    for (;;) {
      const dead = children.findIndex((c) => c.exitCode !== null || c.signalCode !== null)
      if (dead >= 0) throw new Error(`etcd member ${members[dead].name} exited while starting: ${logs.get(members[dead].name)}`)
      try {
        await probe.put('lockstep-bench-ready').value('1').options({ deadline: Date.now() + 2000 }).exec()
        break
      } catch (error) {
        if (performance.now() > deadline) throw new Error(`etcd did not accept a put within 30 s: ${error.message}; ${[...logs].map(([n, l]) => `${n}: ${l}`).join('\n')}`)
        await new Promise((r) => setTimeout(r, 200))
      }
    }
    probe.close()
  } catch (error) {
    await stop()
    throw error
  }
  console.error(`  etcd: 3 members, pids ${children.map((c) => c.pid).join(', ')}, clients at ${members.map((m) => m.client).join(', ')}, data in ${dataDir}`)
  return { endpoints: members.map((m) => m.client), stop }
}

/** SIGTERM, then SIGKILL after 10 s; resolves when the process has exited. */
async function stopProcess(child) {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
  await exited
  clearTimeout(timer)
}

/**
 * An etcd3 client of the given endpoints. By default it shares one connection to each member with the other etcd3
 * clients of this process (grpc-js's global pool of subchannels: 64 clients make one connection per member), as the
 * Lockstep clients share theirs; with `share` false it has its own connections, as a separate process would.
 */
function etcdClient(hosts, share = true) {
  return new Etcd3(share ? { hosts } : { hosts, grpcOptions: { 'grpc.use_local_subchannel_pool': 1 } })
}

/** `count` etcd clients, client i talking to member i mod 3 (spread as the Lockstep clients are). */
function etcdClients(endpoints, count, share = true) {
  return Array.from({ length: count }, (_, i) => etcdClient([endpoints[i % endpoints.length]], share))
}

/** Puts from `workers` closed-loop callers sharing one etcd3 client of the three members (gRPC multiplexes them on its connections). */
async function etcdPipelinedPuts(endpoints, workers) {
  const client = etcdClient(endpoints)
  try {
    const measured = await measureOperations(workers, (i, n) => client.put(`k${i}`).value(`v${n}`).exec(), timing)
    console.error(`  etcd puts, ${workers} calls on one client: ${measured['ops/s']} ops/s`)
    return measured
  } finally {
    client.close()
  }
}

/** Puts with each count of clients (sharing connections), then each of `ownCounts` with a connection each (`<n> own`). */
async function etcdPuts(endpoints, clientCounts, ownCounts = []) {
  const results = {}
  const runs = [...clientCounts.map((count) => ({ count, share: true })), ...ownCounts.map((count) => ({ count, share: false }))]
  for (const { count, share } of runs) {
    const key = share ? count : `${count} own`
    const clients = etcdClients(endpoints, count, share)
    try {
      results[key] = await measureOperations(count, (i, n) => clients[i].put(`k${i}`).value(`v${n}`).exec(), timing)
    } finally {
      for (const client of clients) client.close()
    }
    console.error(`  etcd puts, ${count} clients${share ? '' : ' with a connection each'}: ${results[key]['ops/s']} ops/s`)
  }
  return results
}

/**
 * The mutex of `etcdctl lock` (etcd's clientv3/concurrency Mutex) on etcd3: a key `<name>/<lease>` created with
 * the session's lease in one transaction that also reads the lock's oldest key; the lock is ours when that key is
 * ours, else we wait, by watch, until every key created before ours is deleted. Unlock deletes our key.
 */
class EtcdMutex {
  constructor(client, leaseId, name) {
    this.client = client
    this.prefix = `${name}/`
    this.key = `${this.prefix}${BigInt(leaseId).toString(16)}`
    this.leaseId = leaseId
  }

  async lock() {
    const c = this.client
    const owner = () => c.getAll().prefix(this.prefix).sort('Create', 'Ascend').limit(1)
    const txn = await c.if(this.key, 'Create', '==', 0).then(c.put(this.key).value('').lease(this.leaseId), owner()).else(c.get(this.key), owner()).commit()
    const myRevision = txn.succeeded ? Number(txn.header.revision) : Number(txn.responses[0].response_range.kvs[0].create_revision)
    const first = txn.responses[1].response_range.kvs[0]
    if (first === undefined || Number(first.create_revision) === myRevision) return
    await this.waitDeletes(myRevision - 1)
  }

  /** Waits until no key of the lock created at or before `maxCreateRevision` is left (concurrency.waitDeletes). */
  async waitDeletes(maxCreateRevision) {
    for (;;) {
      const range = await this.client.getAll().prefix(this.prefix).maxCreateRevision(String(maxCreateRevision)).sort('Create', 'Descend').limit(1).exec()
      const last = range.kvs[0]
      if (last === undefined) return
      await this.waitDelete(last.key, Number(range.header.revision))
    }
  }

  async waitDelete(key, revision) {
    const watcher = this.client.watch().key(key).startRevision(String(revision + 1)).watcher()
    try {
      await new Promise((resolve, reject) => {
        watcher.on('delete', resolve)
        watcher.on('error', reject)
      })
    } finally {
      await watcher.cancel()
    }
  }

  async unlock() {
    await this.client.delete().key(this.key).exec()
  }
}

/** Acquire + release pairs/s: `count` clients, each with its session lease, on one lock or (distinct) one each. */
async function etcdLocks(endpoints, count, distinct) {
  const clients = etcdClients(endpoints, count)
  const leases = clients.map((client) => client.lease(LOCK_TTL_S))
  try {
    const mutexes = await Promise.all(clients.map(async (client, i) => new EtcdMutex(client, await leases[i].grant(), distinct ? `lock-${i}` : 'lock')))
    return await measureOperations(count, async (i) => {
      await mutexes[i].lock()
      await mutexes[i].unlock()
    }, timing)
  } finally {
    await Promise.all(leases.map((lease) => lease.revoke().catch((error) => console.error(`etcd: revoking a lease failed: ${error.message}`))))
    for (const client of clients) client.close()
  }
}

/** For reference: etcd3's own `client.lock(name)` (a try-lock: a lease granted, a put, the lease revoked, per pair). */
async function etcd3TryLock(endpoints) {
  const [client] = etcdClients(endpoints, 1)
  try {
    return await measureOperations(1, async () => {
      const lock = client.lock('trylock').ttl(LOCK_TTL_S)
      await lock.acquire()
      await lock.release()
    }, timing)
  } finally {
    client.close()
  }
}

// --- run ----------------------------------------------------------------------------------------

const load = () => loadavg().map((l) => l.toFixed(2)).join(' ')
const context = { date: new Date().toISOString().slice(0, 10), machine: await machineInfo(), loadBefore: load(), cpuProbes: [] }
/** The CPU's speed now (see `cpuProbe`), kept for the report: on a shared machine it moves during a run. */
const probe = (label) => {
  const micros = cpuProbe()
  context.cpuProbes.push({ label, micros })
  return micros
}
probe('start')
const results = { lockstepPuts: {}, lockstepLocks: {}, tcpMemory: {}, tcpMemoryOwn: {}, inProcess: {}, lockstepPipelined: {}, tcpMemoryPipelined: {} }
const etcd = sides.includes('etcd') ? findEtcd() : undefined
context.etcd = etcd
context.etcdNote = etcd ? undefined : '`etcd` is not on the PATH (Debian: `apt-get install etcd-server`)'
if (!etcd) console.error(`etcd-bench: ${context.etcdNote}: the etcd rows are skipped`)
let etcdFailure

/**
 * One pass over the etcd rows on a fresh 3-member etcd. The harness makes two, one before and one after the Lockstep
 * TCP rows, and shows each row's better pass: the machine's speed moves during a run (see `cpuProbe`), and etcd's
 * rows must not all fall in a slow stretch that Lockstep's missed.
 */
async function etcdPass(label) {
  console.error(`etcd ${etcd.version} (${etcd.bin}), pass ${label}`)
  const cluster = await startEtcd(etcd.bin)
  try {
    const pass = { puts: await etcdPuts(cluster.endpoints, putClientCounts, [64]), pipelined: await etcdPipelinedPuts(cluster.endpoints, 64) }
    pass.locks = {
      single: await etcdLocks(cluster.endpoints, 1, false),
      contended: await etcdLocks(cluster.endpoints, 16, false),
      distinct: await etcdLocks(cluster.endpoints, 16, true),
    }
    for (const [name, m] of Object.entries(pass.locks)) console.error(`  etcd lock pairs, ${name}: ${m['ops/s']} pairs/s`)
    pass.tryLock = await etcd3TryLock(cluster.endpoints)
    return pass
  } finally {
    await cluster.stop()
  }
}

/** Runs an etcd pass; a failure leaves the etcd rows out and says why, instead of ending the run. */
async function tryEtcdPass(label) {
  if (!etcd || etcdFailure) return undefined
  try {
    return await etcdPass(label)
  } catch (error) {
    etcdFailure = error
    context.etcdNote = `etcd failed: ${error.message}`
    console.error(`etcd-bench: ERROR: the etcd side failed, its rows are missing: ${error.stack ?? error.message}`)
    return undefined
  }
}

/** Of two measurements of the same row, the one with more operations/s (its latencies with it). */
const better = (a, b) => (a === undefined ? b : b === undefined ? a : b['ops/s'] > a['ops/s'] ? b : a)

console.error('the ceiling: plain node:net + msgpackr echo')
results.echoFramesPerS = await echoCeiling()
const lockstepOrders = sides.includes('lockstep') ? orders : []
for (const order of lockstepOrders) {
  console.error(`lockstep, ${order} ordering: in process`)
  probe(`${order} in-process, 1 client`)
  const one = await inProcessPuts(order, 1)
  const probed = probe(`${order} in-process, 64 clients`)
  results.inProcess[order] = { 1: one, 64: { ...(await inProcessPuts(order, 64)), 'cpu probe µs': probed } }
  probe(`${order} after in-process`)
}
const etcdBefore = await tryEtcdPass('1 (before the Lockstep TCP rows)')
probe('after etcd pass 1')
for (const order of lockstepOrders) {
  console.error(`lockstep, ${order} ordering: over TCP`)
  const memory = await lockstepTcpPuts(order, 'memory', [64], [64])
  results.tcpMemory[order] = memory[64]
  results.tcpMemoryOwn[order] = memory['64 own']
  results.tcpMemoryPipelined[order] = await lockstepPipelinedPuts(order, 'memory', 64)
  results.lockstepPipelined[order] = await lockstepPipelinedPuts(order, 'file', 64)
  results.lockstepPuts[order] = await lockstepTcpPuts(order, 'file', putClientCounts, [64])
  results.lockstepLocks[order] = await lockstepLocks(order)
  probe(`${order} after TCP rows`)
}
// After the in-process rows, so that its sockets and garbage cannot weigh on them.
console.error('the floor of 64 separate connections: plain node:net round trips')
results.roundTrips64 = await plainRoundTrips({ connections: 64, durationMs })
console.error(`  ${results.roundTrips64['round trips/s']} round trips/s`)
const etcdAfter = await tryEtcdPass('2 (after the Lockstep TCP rows)')
if (etcdBefore || etcdAfter) {
  const a = etcdBefore ?? {}
  const b = etcdAfter ?? {}
  results.etcdPasses = [etcdBefore ?? null, etcdAfter ?? null]
  results.etcdPuts = Object.fromEntries([...putClientCounts, '64 own'].map((count) => [count, better(a.puts?.[count], b.puts?.[count])]))
  results.etcdPipelined = better(a.pipelined, b.pipelined)
  results.etcdLocks = {
    single: better(a.locks?.single, b.locks?.single),
    contended: better(a.locks?.contended, b.locks?.contended),
    distinct: better(a.locks?.distinct, b.locks?.distinct),
  }
  results.etcdTryLock = better(a.tryLock, b.tryLock)
}
probe('end')
context.loadAfter = load()
results.goals = goals(results, context.etcdNote)

const tableRows = []
for (const row of comparisonRows(results)) {
  for (const o of orders) tableRows.push({ workload: row.workload, system: `lockstep ${o}`, 'ops/s': row.lockstep[o]?.ops ?? row.lockstepNote ?? '—', 'p50 ms': row.lockstep[o]?.p50 ?? '—', 'p99 ms': row.lockstep[o]?.p99 ?? '—' })
  tableRows.push({ workload: row.workload, system: etcd ? `etcd ${etcd.version}` : 'etcd', 'ops/s': row.etcd?.ops ?? (etcd ? '—' : 'skipped: no etcd'), 'p50 ms': row.etcd?.p50 ?? '—', 'p99 ms': row.etcd?.p99 ?? '—' })
}
for (const o of orders) {
  for (const count of [1, 64]) {
    const m = results.inProcess[o]?.[count]
    tableRows.push({ workload: `in-process puts, ${count} clients, memory`, system: `lockstep ${o}`, 'ops/s': m?.['ops/s'] ?? '—', 'p50 ms': m?.['p50 ms'] ?? '—', 'p99 ms': m?.['p99 ms'] ?? '—' })
  }
  const m = results.tcpMemory[o]
  tableRows.push({ workload: 'TCP puts, 64 clients, memory', system: `lockstep ${o}`, 'ops/s': m?.['ops/s'] ?? '—', 'p50 ms': m?.['p50 ms'] ?? '—', 'p99 ms': m?.['p99 ms'] ?? '—' })
  const own = results.tcpMemoryOwn[o]
  tableRows.push({ workload: 'TCP puts, 64 clients with a connection each, memory', system: `lockstep ${o}`, 'ops/s': own?.['ops/s'] ?? '—', 'p50 ms': own?.['p50 ms'] ?? '—', 'p99 ms': own?.['p99 ms'] ?? '—' })
  const p = results.tcpMemoryPipelined[o]
  tableRows.push({ workload: 'TCP puts, 64 calls on one client, memory', system: `lockstep ${o}`, 'ops/s': p?.['ops/s'] ?? '—', 'p50 ms': p?.['p50 ms'] ?? '—', 'p99 ms': p?.['p99 ms'] ?? '—' })
}
tableRows.push({ workload: 'ceiling: node:net + msgpackr echo', system: 'plain', 'ops/s': results.echoFramesPerS, 'p50 ms': '—', 'p99 ms': '—' })
tableRows.push({ workload: 'floor: 64 node:net connections, round trips', system: 'plain', 'ops/s': results.roundTrips64?.['round trips/s'] ?? '—', 'p50 ms': '—', 'p99 ms': '—' })
report('Lockstep and etcd side by side: 3 members on 127.0.0.1', tableRows, {
  machine: context.machine,
  loadAverage: { before: context.loadBefore, after: context.loadAfter },
  cpuProbes: context.cpuProbes,
  etcd: etcd ? etcd.version : null,
  durationMs,
  warmupMs,
  goals: results.goals,
  raw: results,
})
console.log('\ngoals of issue 14')
for (const g of results.goals) console.log(`  ${g.verdict === 'met' ? 'met   ' : g.verdict.startsWith('not') ? 'n/a   ' : 'MISSED'}  ${g.goal}: ${g.measured} (target ${g.target})${g.verdict === 'met' ? '' : `: ${g.verdict}`}`)

if (etcdFailure) {
  console.error('etcd-bench: docs/benchmarks.md left as it was (the etcd side failed)')
  process.exitCode = 1
} else if (writeDocs && sides.includes('lockstep') && sides.includes('etcd')) {
  mkdirSync(dirname(CHART), { recursive: true })
  writeFileSync(CHART, await chartSvg(results, context))
  rewriteDoc(markdown(results, context))
  console.log(`\nwrote ${DOC} (between ${MARK_START} and ${MARK_END}) and ${CHART}`)
}
