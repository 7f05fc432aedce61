import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { upLocalCluster, type LocalCluster, type ReplicaStatus } from '@lockstep/cli'
import { checkMutualExclusion, type WorkloadEvent } from '@lockstep/testkit'
import { LockClient } from './lock-client'

const CLIENTS = 5
const ROUNDS = 20
/** The lease of every grant while the clients contend: far longer than a critical section of the demo. */
const TTL_MS = 5_000
/** The lease of the holder that dies at the end, so that the demo waits for it only briefly. */
const SHORT_TTL_MS = 1_000
/** The lock service runs the leased mutex, compiled from its DSL spec by each replica. */
const SPEC = fileURLToPath(new URL('../specs/leased-mutex.sm', import.meta.url))

/**
 * The lock-service demo: three replica processes of the leased mutex (compiled
 * from specs/leased-mutex.sm) on 127.0.0.1, ordered by Lamport clocks over TCP
 * (or by synchronized real-time clocks: `npm run demo -- --order realtime`; the clients take the first answer, or
 * vote: `npm run demo -- --voter byzantine`),
 * started as a local cluster of `lockstep replica` processes (@lockstep/cli;
 * free ports, fresh secrets in a temporary directory);
 * five clients in this process contend for the lock. Each grant is printed as it happens; at the end the
 * recorded history is checked for mutual exclusion, the replicas' states are
 * compared. Then a holder dies while holding the lock (its client stops, so nothing renews its lease) and
 * another client gets the lock once the lease ran out, with a higher fencing token; every replica process is
 * stopped.
 */
/** The demo's options: `--order lamport|realtime` (default lamport), `--voter first|majority|byzantine` (default first). */
function demoOptions(args: readonly string[]): { order: 'lamport' | 'realtime'; voter: 'first' | 'majority' | 'byzantine' } | undefined {
  try {
    const { values } = parseArgs({ args: [...args], options: { order: { type: 'string' }, voter: { type: 'string' } }, strict: true, allowPositionals: false })
    const order = values.order ?? 'lamport'
    const voter = values.voter ?? 'first'
    if (order !== 'lamport' && order !== 'realtime') return undefined
    if (voter !== 'first' && voter !== 'majority' && voter !== 'byzantine') return undefined
    return { order, voter }
  } catch {
    return undefined
  }
}

async function demo(): Promise<number> {
  const options = demoOptions(process.argv.slice(2))
  if (options === undefined) {
    console.error('usage: demo [--order lamport|realtime] [--voter first|majority|byzantine]')
    return 2
  }
  const { order, voter } = options
  const starting = upLocalCluster({ machine: SPEC, replicas: 3, basePort: 0, order, voter, onLog: (line) => void process.stderr.write(`${line}\n`) })
  let interrupted = false
  // Listening already while the replicas start, so an early Ctrl-C also stops them and removes their directory.
  const onSignal = () => {
    interrupted = true
    console.log('\ninterrupted: stopping the replica processes')
    starting
      .then((started) => started.stop())
      .catch((error: unknown) => console.error(`could not stop the replicas cleanly: ${(error as Error).message}`))
      .finally(() => process.exit(130))
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  const cluster = await starting
  if (interrupted) return new Promise<number>(() => {}) // onSignal stops the cluster and exits 130
  try {
    console.log(`lock service: ${cluster.replicas.length} replica processes running specs/leased-mutex.sm, ${order === 'realtime' ? 'real-time' : 'Lamport'} ordering, TCP on 127.0.0.1, clients voting ${voter}`)
    for (const r of cluster.replicas) console.log(`  ${r.id}  ${r.host}:${r.port}  pid ${r.pid}`)
    console.log(`${CLIENTS} clients each acquire and release the lock ${ROUNDS} times (leases of ${TTL_MS} ms, renewed in the background)\n`)
    // Stopping the cluster on a signal stops its clients, whose pending requests then fail with STOPPED.
    const result = await contend(cluster).catch((error: unknown) => {
      if (interrupted) return undefined
      throw error
    })
    if (interrupted || result === undefined) return 130
    const expiry = await deadHolder(cluster, result.tokens.length).catch((error: unknown) => {
      if (interrupted) return undefined
      throw error
    })
    if (interrupted || expiry === undefined) return 130
    const statuses = await settledStatuses(cluster, result.requests)
    const digests = new Set(statuses.map((s) => s.digest))
    const violations = checkMutualExclusion(result.events)
    const fenced = result.tokens.every((token, i) => token === i + 1)
    console.log(`
summary
  requests          ${result.requests} (${result.grants} acquire + ${result.grants} release; lease renewals and expires besides)
  grants            ${result.grants}
  elapsed           ${result.elapsedMs.toFixed(0)} ms
  throughput        ${((result.requests / result.elapsedMs) * 1000).toFixed(0)} requests/s
  replicas agree    ${digests.size === 1 ? 'yes' : 'NO'} (positions ${statuses.map((s) => s.position).join(', ')}, state digest ${[...digests].join(' / ')})
  fencing tokens    ${fenced ? `1…${result.tokens.length}, one per grant, in grant order` : `OUT OF ORDER: ${result.tokens.join(', ')}`}
  mutual exclusion: ${violations.length === 0 ? 'held' : `VIOLATED\n    ${violations.join('\n    ')}`}
  dead holder       its lease of ${SHORT_TTL_MS} ms ran out; the lock passed on ${expiry.waitedMs.toFixed(0)} ms after it died, fencing token ${expiry.deadToken} → ${expiry.nextToken}${expiry.nextToken > expiry.deadToken ? '' : ' (NOT HIGHER)'}`)
    return violations.length === 0 && fenced && digests.size === 1 && result.grants === CLIENTS * ROUNDS && expiry.nextToken > expiry.deadToken ? 0 : 1
  } finally {
    if (!interrupted) {
      await cluster.stop()
      console.log(`stopped ${cluster.replicas.length} replica processes (${cluster.replicas.map((r) => `pid ${r.pid}`).join(', ')})`)
    }
    // Only now: a signal while the replicas stop must not end this process before it removed their directory.
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

/** CLIENTS clients, each preferring a different replica, take turns holding the lock; every grant and release is recorded. */
async function contend(cluster: LocalCluster) {
  const replicaIds = cluster.replicas.map((r) => r.id)
  const clients = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => cluster.client(`client-${i + 1}`, { preferred: replicaIds[i % replicaIds.length] })))
  const started = performance.now()
  const events: WorkloadEvent[] = []
  let tick = 0
  let grants = 0
  const tokens: number[] = []
  const at = () => (performance.now() - started).toFixed(1).padStart(7)
  await Promise.all(
    clients.map(async (client) => {
      const lock = new LockClient(client, { ttlMs: TTL_MS })
      for (let round = 0; round < ROUNDS; round++) {
        const { token } = await lock.acquire()
        grants++
        tokens.push(token ?? -1)
        events.push({ kind: 'grant', client: client.id, tick: ++tick, time: performance.now() })
        console.log(`[${at()} ms] grant ${String(grants).padStart(3)} → ${client.id}  (fencing token ${token})`)
        await new Promise((resolve) => setTimeout(resolve, 1)) // the critical section
        events.push({ kind: 'release', client: client.id, tick: ++tick, time: performance.now() })
        await lock.release()
      }
    }),
  )
  return { events, grants, tokens, requests: grants * 2, elapsedMs: performance.now() - started }
}

/**
 * A holder dies: it acquires with a short lease, then its client stops, so nothing renews the lease. Another
 * client asks for the lock at once; its LockClient sends `expire` every heartbeat, and the first one after the
 * lease ran out hands the lock over, with the next fencing token.
 */
async function deadHolder(cluster: LocalCluster, tokensSoFar: number) {
  const [doomedId, survivorId] = [cluster.replicas[0]!.id, cluster.replicas[1]!.id]
  const doomedClient = await cluster.client('doomed-holder', { preferred: doomedId })
  const doomed = await new LockClient(doomedClient, { ttlMs: SHORT_TTL_MS, onLost: () => {} }).acquire()
  console.log(`\ngrant ${String(tokensSoFar + 1).padStart(3)} → doomed-holder  (fencing token ${doomed.token}, lease ${SHORT_TTL_MS} ms); it dies holding the lock`)
  const next = new LockClient(await cluster.client('next-holder', { preferred: survivorId }), { ttlMs: SHORT_TTL_MS })
  const diedAt = performance.now()
  await doomedClient.stop() // as if its process were killed: no renewal, no release
  const grant = await next.acquire()
  const waitedMs = performance.now() - diedAt
  console.log(`grant ${String(tokensSoFar + 2).padStart(3)} → next-holder    (fencing token ${grant.token}) ${waitedMs.toFixed(0)} ms after the holder died`)
  await next.release()
  return { deadToken: doomed.token ?? -1, nextToken: grant.token ?? -1, waitedMs }
}

/**
 * The replicas' statuses once each has executed every request (the last release's reply came from one of them):
 * at least `requests` (renewals and expires come on top), all at the same position.
 */
async function settledStatuses(cluster: LocalCluster, requests: number): Promise<ReplicaStatus[]> {
  for (let attempt = 0; ; attempt++) {
    const statuses = await cluster.status()
    const positions = new Set(statuses.map((s) => s.position))
    if ((positions.size === 1 && statuses.every((s) => s.position >= requests)) || attempt >= 500) return statuses
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

process.exitCode = await demo()
