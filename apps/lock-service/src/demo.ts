import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { upLocalCluster, type LocalCluster, type LocalReplica, type ReplicaStatus } from '@lockstep/cli'
import { ErrorCodes, LockstepError } from '@lockstep/interface'
import type { WorkloadEvent } from '@lockstep/testkit'
import { ProgressDisplay, percentile } from './demo-progress'
import { safetyVerdict, type ResourceWrite } from './demo-verdict'
import { LockClient } from './lock-client'

const CLIENTS = 5
/** Grants before the kill, while the killed replica is down (then it is restarted), and after it rejoined. */
const GRANTS_BEFORE_KILL = 100
const GRANTS_WHILE_DOWN = 100
const GRANTS_AFTER_REJOIN = 100
/** The replica killed with SIGKILL midway and restarted from its data directory. */
const KILLED = 'r3'
/** How long each holder keeps the lock (its critical section: it writes its fencing token to the resource). */
const HOLD_MS = 1
/** The lease of every grant while the clients contend: far longer than a critical section of the demo. */
const TTL_MS = 5_000
/** The lease of the holder that dies at the end, so that the demo waits for it only briefly. */
const SHORT_TTL_MS = 1_000
/** A phase that makes no progress for this long ends the demo with TIMEOUT: the cluster is stuck, not slow. */
const PHASE_TIMEOUT_MS = 30_000
/** How often the replicas' operator endpoints (GET /status) are asked where they stand. */
const STATUS_POLL_MS = 200
/** The lock service runs the leased mutex, compiled from its DSL spec by each replica. */
const SPEC = fileURLToPath(new URL('../specs/leased-mutex.sm', import.meta.url))

/**
 * The lock-service demo: three replica processes of the leased mutex (compiled from specs/leased-mutex.sm) on
 * 127.0.0.1 with file storage, ordered by Lamport clocks over TCP (or by synchronized real-time clocks:
 * `npm run demo -- --order realtime`; the clients take the first answer, or vote: `npm run demo -- --voter
 * byzantine`), started as a local cluster of `lockstep replica` processes (@lockstep/cli; free ports, fresh
 * secrets and data in a temporary directory). Five clients in this process contend for the lock; each holder
 * writes its fencing token to the protected resource (a log in this process). Midway replica r3 is killed with
 * SIGKILL, later restarted from its data directory, and rejoins. Progress shows on one updating line on a
 * terminal (events only on a pipe). At the end a summary: grants, throughput, acquire latency, the time from
 * the kill to the next grant, and the safety verdict (no two holders at once, fencing tokens strictly
 * increasing in the resource log). Then a holder dies while holding the lock (its client stops, so nothing
 * renews its lease) and another client gets the lock once the lease ran out, with a higher fencing token. Exit 0
 * only when every check holds.
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
  const startedAt = performance.now()
  // The replicas' own log lines (warnings of the kill among them) would break the progress line: kept, and
  // shown only when the demo fails.
  const replicaLog: string[] = []
  const onLog = (line: string) => {
    replicaLog.push(line)
    if (replicaLog.length > 40) replicaLog.shift()
  }
  const starting = upLocalCluster({ machine: SPEC, replicas: 3, basePort: 0, order, voter, storage: 'file', onLog })
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
    console.log(`lock service: ${cluster.replicas.length} replica processes running specs/leased-mutex.sm, ${order === 'realtime' ? 'real-time' : 'Lamport'} ordering, TCP on 127.0.0.1, file storage, clients voting ${voter}`)
    for (const r of cluster.replicas) console.log(`  ${r.id}  ${r.host}:${r.port}  pid ${r.pid}  status http://${r.host}:${r.metricsPort ?? '-'}/status  data ${dataDirOf(cluster, r.id)}`)
    console.log(
      `${CLIENTS} clients contend for the lock (leases of ${TTL_MS} ms); each holder writes its fencing token to the resource log.\n` +
        `${KILLED} is killed with SIGKILL after ${GRANTS_BEFORE_KILL} grants, restarted from its data directory ${GRANTS_WHILE_DOWN} grants later, and the run ends ${GRANTS_AFTER_REJOIN} grants after it rejoined.\n`,
    )
    // Stopping the cluster on a signal stops its clients, whose pending requests then fail with STOPPED.
    const run = await contendThroughKill(cluster, startedAt).catch((error: unknown) => {
      if (interrupted) return undefined
      throw error
    })
    if (interrupted || run === undefined) return 130
    const statuses = await settledStatuses(cluster, run.grants * 2)
    const digests = new Set(statuses.map((s) => s.digest))
    const replicasAgree = statuses.length === cluster.replicas.length && digests.size === 1
    const verdict = safetyVerdict(run.events, run.resourceLog)
    const tokens = run.resourceLog.map((w) => w.token)
    const seconds = run.elapsedMs / 1000
    const row = (name: string, value: string) => `  ${name.padEnd(22)}${value}`
    console.log(
      [
        '\nsummary',
        row('grants', `${run.grants} in ${seconds.toFixed(1)} s`),
        row('throughput', `${(run.grants / seconds).toFixed(0)} grants/s`),
        row('acquire latency', `p50 ${percentile(run.acquireMs, 50).toFixed(1)} ms, p99 ${percentile(run.acquireMs, 99).toFixed(1)} ms (waiting behind the other holders included)`),
        row('kill → next grant', `${run.killToNextGrantMs.toFixed(0)} ms (${KILLED} killed with SIGKILL after grant ${run.grantsAtKill}; longest wait between two grants ${run.longestGapMs.toFixed(0)} ms)`),
        row('restart → rejoin', `${run.restartToRejoinMs.toFixed(0)} ms (${KILLED} recovered its disk and rejoined in view ${run.rejoinView.id}: ${run.rejoinView.members.join(', ')})`),
        row('replicas agree', `${replicasAgree ? 'yes' : 'NO'} (${statuses.map((s) => `${s.id} at ${s.position}`).join(', ')}; state digest ${[...digests].join(' / ')})`),
        row('mutual exclusion', verdict.mutualExclusion.length === 0 ? `held (no two holders at once in ${run.events.length} grants and releases)` : `VIOLATED\n    ${verdict.mutualExclusion.join('\n    ')}`),
        row('fencing tokens', verdict.fencing.length === 0 ? `strictly increasing in the resource log (${tokens.length} writes, tokens ${tokens[0]}…${tokens.at(-1)})` : `NOT STRICTLY INCREASING\n    ${verdict.fencing.join('\n    ')}`),
        `safety verdict: ${verdict.holds ? 'HOLDS (no two holders at once, fencing tokens strictly increasing)' : 'VIOLATED'}`,
      ].join('\n'),
    )
    const expiry = await deadHolder(cluster, tokens.at(-1) ?? 0).catch((error: unknown) => {
      if (interrupted) return undefined
      throw error
    })
    if (interrupted || expiry === undefined) return 130
    console.log(
      `  dead holder: its lease of ${SHORT_TTL_MS} ms ran out; the lock passed on ${expiry.waitedMs.toFixed(0)} ms after it died, fencing token ${expiry.deadToken} → ${expiry.nextToken}${expiry.nextToken > expiry.deadToken ? '' : ' (NOT HIGHER)'}`,
    )
    const failures = [
      ...(verdict.holds ? [] : ['the safety verdict is VIOLATED (see the summary)']),
      ...(replicasAgree ? [] : [`the replicas do not agree: ${statuses.length} of ${cluster.replicas.length} answered, with ${digests.size} state digests`]),
      ...(expiry.nextToken > expiry.deadToken ? [] : [`the lock passed on from the dead holder with fencing token ${expiry.nextToken}, not higher than its ${expiry.deadToken}`]),
    ]
    if (failures.length > 0) {
      console.error(`\ndemo FAILED:\n  ${failures.join('\n  ')}`)
      return 1
    }
    return 0
  } catch (error) {
    if (interrupted) return 130
    const code = error instanceof LockstepError ? `${error.code}: ` : ''
    console.error(`\ndemo FAILED: ${code}${(error as Error).message}`)
    if (replicaLog.length > 0) console.error(`the replicas' last log lines:\n  ${replicaLog.join('\n  ')}`)
    return 1
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

function dataDirOf(cluster: LocalCluster, id: string): string {
  const storage = cluster.config.storage
  return storage.type === 'file' ? join(cluster.config.baseDir, storage.dir, id) : '(memory)'
}

/** What a replica's operator endpoint answers to GET /status (the fields the demo shows). */
interface EndpointStatus {
  readonly status: string
  readonly view: { readonly id: number; readonly members: readonly string[] }
  readonly position: number
}

/** Where a replica stands as the demo sees it: killed and not restarted, restarted and not back yet, or up. */
interface ReplicaPicture {
  phase: 'up' | 'down' | 'rejoining'
  report: EndpointStatus | undefined
}

/** GET /status?digest=false of a replica's operator endpoint; undefined when it does not answer. */
async function endpointStatus(replica: LocalReplica): Promise<EndpointStatus | undefined> {
  if (replica.metricsPort === undefined) return undefined
  try {
    const response = await fetch(`http://${replica.host}:${replica.metricsPort}/status?digest=false`, { signal: AbortSignal.timeout(2_000) })
    if (!response.ok) return undefined
    return (await response.json()) as EndpointStatus
  } catch {
    return undefined
  }
}

/**
 * CLIENTS clients, each preferring a different replica, contend for the lock; each holder writes its fencing
 * token to the resource log. After GRANTS_BEFORE_KILL grants replica KILLED is killed with SIGKILL; after
 * GRANTS_WHILE_DOWN more it is restarted from its data directory, and once it rejoined (its GET /status says
 * `normal` in a view that has it) the clients go on for GRANTS_AFTER_REJOIN grants and stop.
 */
async function contendThroughKill(cluster: LocalCluster, startedAt: number) {
  const replicaIds = cluster.replicas.map((r) => r.id)
  const clients = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => cluster.client(`client-${i + 1}`, { preferred: replicaIds[i % replicaIds.length] })))
  const events: WorkloadEvent[] = []
  const resourceLog: ResourceWrite[] = []
  const acquireMs: number[] = []
  const grantTimes: number[] = []
  const pictures = new Map<string, ReplicaPicture>(replicaIds.map((id) => [id, { phase: 'up', report: undefined }]))
  let tick = 0
  let holder: ResourceWrite | undefined
  let killedAt: number | undefined
  let firstGrantAfterKillAt: number | undefined
  let highestView: { readonly id: number; readonly members: readonly string[] } | undefined
  let finishing = false
  const grantWaiters: { readonly count: number; readonly reached: () => void }[] = []
  const rejoinWaiters: ((report: EndpointStatus) => void)[] = []
  let fail: (error: unknown) => void = () => {}
  const failed = new Promise<never>((_, reject) => (fail = reject))
  failed.catch(() => {}) // observed through the races of `phase`

  const grantsPerSecond = () => {
    const since = performance.now() - 1_000
    let count = 0
    for (let i = grantTimes.length - 1; i >= 0 && grantTimes[i]! > since; i--) count++
    return count
  }
  const describeReplica = (id: string) => {
    const picture = pictures.get(id)!
    if (picture.phase === 'down') return `${id} DOWN`
    const report = picture.report
    const where = report === undefined ? '' : ` v${report.view.id} @${report.position}`
    if (picture.phase === 'rejoining') return `${id} rejoining${report === undefined ? '' : ` (${report.status})`}${where}`
    return `${id} ${report === undefined || report.status === 'normal' ? 'up' : report.status}${where}`
  }
  const progress = new ProgressDisplay(
    process.stdout,
    () =>
      `grants ${String(grantTimes.length).padStart(3)}  ${String(grantsPerSecond()).padStart(3)}/s  holder ${holder === undefined ? '-' : `${holder.client} (token ${holder.token})`}  │ ${replicaIds.map(describeReplica).join('  ')}`,
    () => (performance.now() - startedAt) / 1000,
  )

  /** Waits for `promise`, unless a client fails first or nothing happens for PHASE_TIMEOUT_MS. */
  const phase = async <T>(what: string, promise: Promise<T>): Promise<T> => {
    let timer: ReturnType<typeof setTimeout> | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new LockstepError(ErrorCodes.TIMEOUT, `demo: ${what} did not happen within ${PHASE_TIMEOUT_MS} ms (after ${grantTimes.length} grants; ${replicaIds.map(describeReplica).join(', ')})`)), PHASE_TIMEOUT_MS)
    })
    try {
      return await Promise.race([promise, failed, timeout])
    } finally {
      clearTimeout(timer)
    }
  }
  const untilGrants = (count: number) => new Promise<void>((reached) => (grantTimes.length >= count ? reached() : grantWaiters.push({ count, reached })))

  // The replicas' operator endpoints, polled: the progress line shows them, view changes are events, and the
  // restarted replica's rejoin is seen here.
  let polling = true
  const poll = async () => {
    while (polling) {
      await Promise.all(
        cluster.replicas.map(async (replica) => {
          if (pictures.get(replica.id)!.phase === 'down') return
          const report = await endpointStatus(replica)
          const picture = pictures.get(replica.id)!
          if (report === undefined || picture.phase === 'down') return
          picture.report = report
          if (highestView === undefined || report.view.id > highestView.id) {
            if (highestView !== undefined) progress.event(`view ${report.view.id} installed: members ${report.view.members.join(', ')}`)
            highestView = report.view
          }
          if (picture.phase === 'rejoining' && report.status === 'normal' && report.view.members.includes(replica.id)) {
            for (const rejoined of rejoinWaiters.splice(0)) rejoined(report)
          }
        }),
      )
      await new Promise((resolve) => setTimeout(resolve, STATUS_POLL_MS))
    }
  }
  const polled = poll()

  const contendStartedAt = performance.now()
  const contending = Promise.all(
    clients.map(async (client) => {
      const lock = new LockClient(client, { ttlMs: TTL_MS, onLost: (grant) => progress.event(`${client.id} LOST its lease (fencing token ${grant.token})`) })
      while (!finishing) {
        const askedAt = performance.now()
        const { token } = await lock.acquire()
        const grantedAt = performance.now()
        acquireMs.push(grantedAt - askedAt)
        grantTimes.push(grantedAt)
        if (killedAt !== undefined && firstGrantAfterKillAt === undefined) firstGrantAfterKillAt = grantedAt
        events.push({ kind: 'grant', client: client.id, tick: ++tick, time: grantedAt })
        holder = { client: client.id, token }
        resourceLog.push(holder) // the critical section: the holder writes its fencing token to the resource
        for (const waiter of grantWaiters.filter((w) => grantTimes.length >= w.count)) {
          grantWaiters.splice(grantWaiters.indexOf(waiter), 1)
          waiter.reached()
        }
        const held = holder
        await new Promise((resolve) => setTimeout(resolve, HOLD_MS))
        events.push({ kind: 'release', client: client.id, tick: ++tick, time: performance.now() })
        await lock.release()
        // The cluster holds the lock for this client until its release is executed (which grants the next one).
        if (holder === held) holder = undefined
      }
    }),
  )
  contending.catch(fail)

  try {
    progress.start()
    await phase(`grant ${GRANTS_BEFORE_KILL}`, untilGrants(GRANTS_BEFORE_KILL))
    const victim = cluster.replicas.find((r) => r.id === KILLED)!
    const grantsAtKill = grantTimes.length
    pictures.set(KILLED, { phase: 'down', report: undefined })
    killedAt = performance.now()
    const exit = await cluster.kill(KILLED)
    progress.event(`KILL: ${KILLED} (pid ${exit.pid}) killed with SIGKILL after grant ${grantsAtKill}; ${replicaIds.filter((id) => id !== KILLED).join(' and ')} go on`)

    await phase(`grant ${grantsAtKill + GRANTS_WHILE_DOWN} (with ${KILLED} down)`, untilGrants(grantsAtKill + GRANTS_WHILE_DOWN))
    progress.event(`restarting ${KILLED} from its data directory ${dataDirOf(cluster, KILLED)}`)
    pictures.set(KILLED, { phase: 'rejoining', report: undefined })
    const restartedAt = performance.now()
    const rejoining = new Promise<EndpointStatus>((rejoined) => rejoinWaiters.push(rejoined))
    const restarted = await phase(`the restart of ${KILLED}`, cluster.restart(KILLED))
    progress.event(`${KILLED} restarted (pid ${restarted.pid}, was pid ${victim.pid}); it recovers its disk and asks to rejoin`)
    const rejoinReport = await phase(`the rejoin of ${KILLED}`, rejoining)
    const restartToRejoinMs = performance.now() - restartedAt
    pictures.get(KILLED)!.phase = 'up'
    progress.event(`REJOIN: ${KILLED} rejoined in view ${rejoinReport.view.id} (${rejoinReport.view.members.join(', ')}) at position ${rejoinReport.position}, ${restartToRejoinMs.toFixed(0)} ms after its restart`)

    const grantsAtRejoin = grantTimes.length
    await phase(`grant ${grantsAtRejoin + GRANTS_AFTER_REJOIN} (after the rejoin)`, untilGrants(grantsAtRejoin + GRANTS_AFTER_REJOIN))
    finishing = true
    await phase('the clients finishing their last round', contending)
    const endedAt = performance.now()
    progress.event(`done: ${grantTimes.length} grants`)
    const gaps = grantTimes.slice(1).map((time, i) => time - grantTimes[i]!)
    return {
      events,
      resourceLog,
      acquireMs,
      grants: grantTimes.length,
      grantsAtKill,
      elapsedMs: endedAt - contendStartedAt,
      killToNextGrantMs: firstGrantAfterKillAt! - killedAt,
      longestGapMs: Math.max(...gaps),
      restartToRejoinMs,
      rejoinView: rejoinReport.view,
    }
  } finally {
    finishing = true
    polling = false
    progress.stop()
    await polled
  }
}

/**
 * A holder dies: it acquires with a short lease, then its client stops, so nothing renews the lease. Another
 * client asks for the lock at once; its LockClient sends `expire` every heartbeat, and the first one after the
 * lease ran out hands the lock over, with the next fencing token.
 */
async function deadHolder(cluster: LocalCluster, lastToken: number) {
  const [doomedId, survivorId] = [cluster.replicas[0]!.id, cluster.replicas[1]!.id]
  const doomedClient = await cluster.client('doomed-holder', { preferred: doomedId })
  const doomed = await new LockClient(doomedClient, { ttlMs: SHORT_TTL_MS, onLost: () => {} }).acquire()
  console.log(`\nleases: doomed-holder gets the lock (fencing token ${doomed.token}, after ${lastToken}; lease ${SHORT_TTL_MS} ms) and dies holding it`)
  // The next holder's lease is the long one: it is counted from the agreed time of the command that hands the
  // lock over (an `expire`, stamped when a replica received it), so a stall of the ordering longer than a short
  // lease (a slow fsync, a view change) would end it before its holder even heard of the grant. It polls with
  // `expire` as often as a waiter of a short lease would, so the dead holder's lock passes on just as soon.
  const next = new LockClient(await cluster.client('next-holder', { preferred: survivorId }), { ttlMs: TTL_MS, heartbeatMs: SHORT_TTL_MS / 3 })
  const diedAt = performance.now()
  await doomedClient.stop() // as if its process were killed: no renewal, no release
  const grant = await next.acquire()
  const waitedMs = performance.now() - diedAt
  console.log(`  next-holder gets it (fencing token ${grant.token}) ${waitedMs.toFixed(0)} ms after the holder died`)
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
    if ((statuses.length === cluster.replicas.length && positions.size === 1 && statuses.every((s) => s.position >= requests)) || attempt >= 500) return statuses
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

process.exitCode = await demo()
