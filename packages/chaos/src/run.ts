import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ReplicaStatus } from '@lockstep/cli'
import { SeededRandom } from '@lockstep/testkit'
import { ChaosCluster, type DiskLossSaid } from './processes'
import { kvWorkload, lockWorkload, registerWorkload, tcpCluster, type HistoryWorkload, type OperationCounts, type RunningWorkload, type WorkloadResult } from './workloads'

/** Every nemesis the harness knows. */
export const NEMESES = ['kill', 'pause', 'partition', 'reset', 'amnesia', 'disk', 'skew', 'member', 'full', 'cut', 'lost-tail'] as const
export type Nemesis = (typeof NEMESES)[number]
/** Nemeses that need something not built yet, and what. */
export const UNAVAILABLE_NEMESES: Partial<Record<Nemesis, string>> = {}

export const WORKLOADS = ['kv', 'register', 'lock'] as const
export type Workload = (typeof WORKLOADS)[number]

/** The ordering strategies a chaos run can give its replicas (`order` of the cluster file). */
export const ORDERS = ['lamport', 'realtime'] as const
export type Order = (typeof ORDERS)[number]

/** The most operations a client may keep in flight ({@link ChaosOptions.inFlight}). */
export const MAX_IN_FLIGHT = 64

/** Options of {@link runChaos}. */
export interface ChaosOptions {
  /** Seconds of faults and traffic, split evenly over the workloads. */
  readonly durationS: number
  readonly nemeses: readonly Nemesis[]
  readonly seed: number
  readonly workloads: readonly Workload[]
  /** Replicas per cluster (default 3); up to F = (n - 1) / 2 of them are faulty at once, faults overlapping. */
  readonly replicas?: number
  /**
   * Operations each `kv` and `register` client keeps in flight, 1 to {@link MAX_IN_FLIGHT} (default 1): that many
   * loops share the client, pipelining their requests on its connection, each a sequential process of the
   * checked history. When one operation gets no answer in time the client is replaced for all its loops, and
   * every operation then in flight on it counts as unknown. `lock` clients always have one operation in flight.
   */
  readonly inFlight?: number
  /** The replicas' ordering strategy (default `lamport`): `realtime` orders by synchronized clocks. */
  readonly order?: Order
  /**
   * The clients of the run share one connection to each replica (`shareConnections`), so a fault on it (a reset, a
   * partition, a replica killed) hits them all at once. Default false: a connection each.
   */
  readonly sharedConnections?: boolean
  /**
   * Mutual TLS between every node, replicas and clients (default false: the cluster's secrets). The run makes its
   * certificates with openssl (which must be on the PATH): a CA, one per replica, one per client as it connects
   * (CN = its id). Not with `sharedConnections`: with TLS each client proves its id over its own connection.
   */
  readonly tls?: boolean
  /**
   * What the run must have done for its check to mean something: at least `operations` successful operations and
   * `faults` faults in all. A machine too slow to get there within `durationS` (a starved CI machine) extends each
   * workload's phase, faults and traffic going on, until the phase has done its share (each phase the same part),
   * never beyond `maxDurationS` in all (default three times `durationS`); the result's `ranS` says how long the
   * phases took. Default: no floor, the phases last `durationS` in all.
   */
  readonly atLeast?: ChaosFloor
  /** Where the clusters' files and logs go. Default: a temporary directory, removed after a run without violations. */
  readonly dir?: string
  /** Progress lines. */
  readonly log?: (line: string) => void
}

/** See {@link ChaosOptions.atLeast}. */
export interface ChaosFloor {
  readonly operations?: number
  readonly faults?: number
  readonly maxDurationS?: number
}

/** One fault as it happened. */
export interface FaultRecord {
  readonly kind: Nemesis
  readonly target: string
  readonly detail: string
  /** ms since the run started. */
  readonly start: number
  end: number
  /** What the fault's own check found wrong (the `member` nemesis: a removed replica back before its admission); a violation. */
  anomaly?: string
}

/** What a run found. */
export interface ChaosResult {
  readonly seed: number
  readonly durationS: number
  /**
   * Seconds the phases of faults and traffic took: `durationS`, a little more when faults under way at a phase's end
   * healed after it, more again when `atLeast` extended a phase.
   */
  readonly ranS: number
  /** Whether a phase went on past its end to do its share of `atLeast`. */
  readonly extended: boolean
  readonly replicas: number
  /** Operations each `kv` and `register` client kept in flight (see each workload's own `inFlight`). */
  readonly inFlight: number
  /** The replicas' ordering strategy. */
  readonly order: Order
  /** Whether the clients shared one connection to each replica. */
  readonly sharedConnections: boolean
  /** Whether the nodes used mutual TLS. */
  readonly tls: boolean
  readonly nemeses: readonly Nemesis[]
  readonly workloads: readonly WorkloadResult[]
  readonly operations: OperationCounts
  readonly faults: Record<string, number>
  readonly faultLog: readonly FaultRecord[]
  readonly violations: readonly string[]
  readonly lostWrites: number
  /** The longest time without a successful operation while faults were injected, ms. */
  readonly longestUnavailableMs: number
  /** The same, per kind of fault active at the start of the gap. */
  readonly longestUnavailableByNemesis: Record<string, number>
  /** Where the logs are (kept when there were violations). */
  readonly dir: string
}

const SPEC = fileURLToPath(new URL('../../../apps/lock-service/specs/safe-mutex.sm', import.meta.url))

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Runs the workloads one after another, each on its own 3-replica cluster under the nemesis. */
export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  for (const nemesis of options.nemeses) {
    const why = UNAVAILABLE_NEMESES[nemesis]
    if (why) throw new Error(`nemesis '${nemesis}' is not available: ${why}`)
  }
  const log = options.log ?? (() => {})
  const replicas = options.replicas ?? 3
  if (!Number.isSafeInteger(replicas) || replicas < 3 || replicas % 2 === 0) throw new Error(`replicas must be an odd number of at least 3, not ${replicas}`)
  const inFlight = options.inFlight ?? 1
  const sharedConnections = options.sharedConnections === true
  const tls = options.tls === true
  if (tls && sharedConnections) throw new Error('tls and sharedConnections do not go together: with TLS each client proves its id by its own certificate, over its own connection')
  const order = options.order ?? 'lamport'
  if (!(ORDERS as readonly string[]).includes(order)) throw new Error(`order must be one of ${ORDERS.join(', ')}, not ${String(order)}`)
  if (!Number.isSafeInteger(inFlight) || inFlight < 1 || inFlight > MAX_IN_FLIGHT) throw new Error(`inFlight must be an integer from 1 to ${MAX_IN_FLIGHT}, not ${inFlight}`)
  const floor = phaseFloor(options)
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'lockstep-chaos-')))
  await mkdir(dir, { recursive: true })
  const random = new SeededRandom(options.seed)
  const phaseMs = (options.durationS * 1000) / options.workloads.length
  const started = performance.now()
  let ranMs = 0
  let extended = false
  const faultLog: FaultRecord[] = []
  const results: WorkloadResult[] = []
  const violations: string[] = []
  for (const workload of options.workloads) {
    const phaseRandom = random.fork()
    const cluster = await ChaosCluster.create({ dir: join(dir, workload), machine: workload === 'lock' ? SPEC : workload, replicas, order, tls })
    try {
      await Promise.all(cluster.ids.map((id) => cluster.start(id)))
      const target = tcpCluster(await cluster.clientConfig(), { sharedConnections, credentials: (id) => cluster.clientCredentials(id) })
      const running: RunningWorkload | HistoryWorkload<unknown> =
        workload === 'kv' ? kvWorkload(target, phaseRandom.fork(), { inFlight }) : workload === 'register' ? registerWorkload(target, phaseRandom.fork(), { inFlight }) : lockWorkload(target, phaseRandom.fork())
      const perClient = `${workload === 'lock' ? '' : `, ${inFlight} in flight per client`}${sharedConnections ? ', clients sharing one connection per replica' : ''}${tls ? ', mutual TLS' : ''}`
      log(`${workload}: ${replicas} replicas under ${options.nemeses.join(', ') || 'no faults'} for ${(phaseMs / 1000).toFixed(0)} s${perClient} (${cluster.dir})`)
      // The faults start once every replica has served: see `formed`.
      const formation = await formed(cluster)
      if (!formation.ok) violations.push(`${workload}: ${formation.problem}`)
      log(`${workload}: ${formation.ok ? `every replica served by ${(formation.ms / 1000).toFixed(1)} s; the faults start` : formation.problem}`)
      const phaseStart = performance.now()
      const faultsBefore = faultLog.length
      const enough = () => running.operations().ok >= floor.operations && faultLog.length - faultsBefore >= floor.faults
      // A phase that has not done its share by its end goes on until it has, up to its longest.
      let phaseExtended = false
      const end = () => {
        if (performance.now() < phaseStart + phaseMs || enough()) return phaseStart + phaseMs
        phaseExtended = extended = true
        return phaseStart + floor.maxPhaseMs
      }
      await nemesis(cluster, options.nemeses, phaseRandom.fork(), end, faultLog, started, log)
      for (const fault of faultLog.slice(faultsBefore)) if (fault.anomaly !== undefined) violations.push(`${workload}: ${fault.kind} ${fault.target}: ${fault.anomaly}`)
      const phaseRanMs = performance.now() - phaseStart
      ranMs += phaseRanMs
      if (phaseExtended) {
        const ok = running.operations().ok
        const faults = faultLog.length - faultsBefore
        log(`${workload}: ${ok} operations ok and ${faults} faults after ${(phaseRanMs / 1000).toFixed(1)} s: the phase went on past its ${(phaseMs / 1000).toFixed(0)} s ${enough() ? 'until it had' : 'and still lacked'} its share (${floor.operations} ok, ${floor.faults} faults)`)
      } else if (phaseRanMs > phaseMs + 1000) {
        log(`${workload}: the phase took ${(phaseRanMs / 1000).toFixed(1)} s of its ${(phaseMs / 1000).toFixed(0)} s: faults under way at its end healed after it`)
      }
      // Every fault is healed: the traffic stops, the replicas must converge, the final reads see everything.
      let phaseAt = performance.now()
      const took = () => {
        const ms = performance.now() - phaseAt
        phaseAt = performance.now()
        return `${(ms / 1000).toFixed(1)} s`
      }
      log(`${workload}: faults healed; stopping the traffic`)
      await running.stop()
      log(`${workload}: traffic stopped in ${took()}; waiting for the replicas to converge`)
      const converged = await settle(cluster)
      if (!converged.ok) violations.push(`${workload}: ${converged.problem}`)
      log(`${workload}: ${converged.ok ? 'converged' : 'did not converge'} in ${took()}; final reads and the check`)
      const result = await running.check()
      log(`${workload}: final reads and the check took ${took()}`)
      results.push(result)
      violations.push(...result.violations)
      // The history as `lockstep lincheck` reads it, to look at a violation closely.
      if (result.violations.length > 0 && 'history' in running) await writeFile(join(cluster.dir, 'history.json'), `${JSON.stringify(running.history)}\n`, 'utf8')
      // Settled again after the reads (when it settled at all: one that did not is reported already), then watched.
      if (converged.ok) {
        await settle(cluster)
        const churn = await viewChurn(cluster)
        if (churn) violations.push(`${workload}: ${churn}`)
      }
      // A replica whose engine stopped on an unexpected error is a bug, whatever the faults: the nemeses never cause one.
      for (const said of cluster.engineFailures()) violations.push(`${workload}: ${said}`)
      // Only the `disk` and `lost-tail` nemeses make a disk lose what it synced: a replica that says another's disk did,
      // when no fault touched that disk, would send an operator after a fault that is not there.
      violations.push(...falseDiskLosses(cluster.diskLossesSaid(), faultLog.slice(faultsBefore), started).map((problem) => `${workload}: ${problem}`))
      const digests = await cluster.status(true)
      const positions = new Set(digests.map((s) => s.position))
      if (positions.size === 1 && new Set(digests.map((s) => s.digest)).size !== 1) {
        violations.push(`${workload}: replicas at position ${[...positions][0]} have different state digests: ${digests.map((s) => `${s.id} ${s.digest}`).join(', ')}`)
      }
      log(`${workload}: ${result.operations.ok} ok, ${result.operations.failed} failed, ${result.operations.unknown} unknown; ${result.violations.length} violations`)
    } finally {
      await cluster.stop()
    }
  }
  const operations = { ok: 0, failed: 0, unknown: 0 }
  for (const r of results) {
    operations.ok += r.operations.ok
    operations.failed += r.operations.failed
    operations.unknown += r.operations.unknown
  }
  const faults: Record<string, number> = {}
  for (const f of faultLog) faults[f.kind] = (faults[f.kind] ?? 0) + 1
  const { longest, byNemesis } = unavailability(results, faultLog, started)
  const result: ChaosResult = {
    seed: options.seed,
    durationS: options.durationS,
    ranS: Math.round(ranMs / 100) / 10,
    extended,
    replicas,
    inFlight,
    order,
    sharedConnections,
    tls,
    nemeses: options.nemeses,
    workloads: results,
    operations,
    faults,
    faultLog,
    violations,
    lostWrites: results.reduce((sum, r) => sum + r.lostWrites, 0),
    longestUnavailableMs: longest,
    longestUnavailableByNemesis: byNemesis,
    dir,
  }
  await writeFile(join(dir, 'result.json'), `${JSON.stringify(result, null, 2)}\n`, 'utf8')
  if (violations.length === 0 && options.dir === undefined) await rm(dir, { recursive: true, force: true })
  return result
}

/**
 * The disk losses said (`ChaosCluster.diskLossesSaid`) of a replica whose disk no `disk` or `lost-tail` fault touched
 * before, each as a violation. `started` is the run's start (`performance.now()`), which the faults' times count from.
 */
export function falseDiskLosses(said: readonly DiskLossSaid[], faults: readonly FaultRecord[], started: number): string[] {
  return said
    .filter((loss) => !faults.some((fault) => (fault.kind === 'disk' || fault.kind === 'lost-tail') && fault.target === loss.of && fault.start <= loss.at - started))
    .map((loss) => `replica ${loss.by} said at error level that the disk of ${loss.of} lost records it had synced (it reports the order up to ${loss.position}, after ${loss.held}), but no fault touched that disk`)
}

/** Each phase's share of {@link ChaosOptions.atLeast}, and how long a phase may go on to reach it. */
function phaseFloor(options: ChaosOptions): { readonly operations: number; readonly faults: number; readonly maxPhaseMs: number } {
  const { operations = 0, faults = 0, maxDurationS = 3 * options.durationS } = options.atLeast ?? {}
  for (const [name, value] of [['operations', operations], ['faults', faults]] as const) {
    if (!Number.isSafeInteger(value) || value < 0) throw new Error(`atLeast.${name} must be a whole number of at least 0, not ${value}`)
  }
  if (!Number.isFinite(maxDurationS) || maxDurationS < options.durationS) throw new Error(`atLeast.maxDurationS must be at least durationS (${options.durationS}), not ${maxDurationS}`)
  if (faults > 0 && options.nemeses.length === 0) throw new Error(`atLeast.faults is ${faults}, but the run has no nemesis to inject them`)
  const phases = options.workloads.length
  return { operations: Math.ceil(operations / phases), faults: Math.ceil(faults / phases), maxPhaseMs: (maxDurationS * 1000) / phases }
}

/**
 * Injects faults until `end()`: F = (n - 1) / 2 fault loops run at once (one with 3 replicas, two with 5:
 * faults overlap), each on a replica no other loop holds, each fault healed before its loop's next.
 */
async function nemesis(cluster: ChaosCluster, nemeses: readonly Nemesis[], random: SeededRandom, end: () => number, faultLog: FaultRecord[], started: number, log: (line: string) => void): Promise<void> {
  const busy = new Set<string>()
  const partitioned = new Set<string>()
  const loops = Math.floor((cluster.ids.length - 1) / 2)
  await Promise.all(Array.from({ length: loops }, () => faultLoop(cluster, nemeses, random.fork(), end, { busy, partitioned }, faultLog, started, log)))
}

/**
 * Whether a fault, begun now, stays alone: true when asked if no other fault was held when it began (the
 * fault's own target is the one replica held, none partitioned), none began since, and none is held now. A fault
 * of another loop held when it began counts even once healed: its views may still be installing. (Found: 5
 * replicas, real-time ordering, seed 44002: r5's clock skew was held when r2's removal began and healed before its
 * watch ended; the views it caused were taken for churn while r2 was out, a false violation.)
 */
export function watchAlone(held: FaultsHeld, faultLog: readonly FaultRecord[]): () => boolean {
  const quiet = () => held.busy.size === 1 && held.partitioned.size === 0
  const aloneAtStart = quiet()
  const faultsSoFar = faultLog.length
  return () => aloneAtStart && faultLog.length === faultsSoFar && quiet()
}

/** Replicas some fault loop holds now, and those it keeps partitioned. */
export interface FaultsHeld {
  readonly busy: Set<string>
  readonly partitioned: Set<string>
}

/** One fault at a time on a replica no other loop holds, until `end()` (the phase's end as known now). */
async function faultLoop(cluster: ChaosCluster, nemeses: readonly Nemesis[], random: SeededRandom, end: () => number, held: FaultsHeld, faultLog: FaultRecord[], started: number, log: (line: string) => void): Promise<void> {
  const now = () => performance.now() - started
  const ids = cluster.ids
  while (performance.now() < end()) {
    await sleep(random.int(300, 1500))
    if (nemeses.length === 0 || performance.now() >= end()) continue
    const kind = random.pick(nemeses)
    const free = ids.filter((id) => !held.busy.has(id))
    if (free.length === 0) continue
    const target = random.pick(free)
    held.busy.add(target)
    try {
      await inject(cluster, kind, target, random, end, held, faultLog, now, log)
    } finally {
      held.busy.delete(target)
    }
  }
}

/** One fault on `target`, held and healed. */
async function inject(cluster: ChaosCluster, kind: Nemesis, target: string, random: SeededRandom, end: () => number, held: FaultsHeld, faultLog: FaultRecord[], now: () => number, log: (line: string) => void): Promise<void> {
  {
    const ids = cluster.ids
    const others = ids.filter((id) => id !== target)
    const holdMs = Math.min(random.int(800, 4000), Math.max(0, end() - performance.now()))
    const record: FaultRecord = { kind, target, detail: '', start: now(), end: now() }
    faultLog.push(record)
    switch (kind) {
      case 'kill':
      case 'amnesia':
      case 'disk':
      case 'lost-tail': {
        await cluster.kill(target)
        const saidBefore = cluster.diskLossesSaid().length
        let detail = kind === 'kill' ? 'kill -9, restart from its disk' : kind === 'amnesia' ? 'kill -9, disk wiped, restart' : ''
        if (kind === 'amnesia') await cluster.wipe(target)
        if (kind === 'disk') detail = await damageDisk(cluster.dataDir(target), random)
        if (kind === 'lost-tail') detail = await loseTail(cluster.dataDir(target), random)
        ;(record as { detail: string }).detail = detail
        await sleep(holdMs)
        log(`  ${(now() / 1000).toFixed(1)} s  ${kind} ${target}: restarting it`)
        await cluster.start(target)
        // Not healed until it serves again: a replica restarted without its state (or from a damaged disk) holds
        // nothing until it has rejoined, and a second such fault before that would take the cluster beyond F.
        if (!(await servesAgain(cluster, target))) (record as { detail: string }).detail += '; it did not serve again within 30 s'
        // A disk that went back: the peers that had its reports of how far it held the order say so at error level.
        if (kind === 'disk' || kind === 'lost-tail') {
          const sayers = [...new Set(cluster.diskLossesSaid().slice(saidBefore).filter((loss) => loss.of === target).map((loss) => loss.by))].sort()
          ;(record as { detail: string }).detail += sayers.length > 0 ? `; ${sayers.join(', ')} said at error level that its disk lost what it had synced` : '; no replica said its disk lost what it had synced'
        }
        break
      }
      case 'full': {
        // Its disk fills up while it runs: restarted (kill -9, from its disk) with a file-size limit a few KiB above
        // its newest log segment, so a write soon fails (EFBIG, as ENOSPC on a full disk). It must say so at error
        // level and exit 1 by itself, never linger as if it served; then it restarts from its disk with room.
        await cluster.kill(target)
        const roomBytes = random.int(4, 64) * 1024
        const limit = (await newestSegmentBytes(cluster.dataDir(target))) + roomBytes
        let detail = `its disk full ${roomBytes / 1024} KiB on`
        let ran = true
        try {
          await cluster.start(target, { fileSizeLimitBytes: limit })
        } catch (error) {
          // Full before it listened (its recovery wrote past the limit): it must have said why and exited 1 as well.
          ran = false
          detail += `: exited before it listened (${(error as Error).message.split('\n')[0]})`
        }
        const ended = await cluster.exitWithin(target, ran ? Math.max(holdMs, 5_000) : 0)
        if (ended === undefined) {
          if (cluster.storageFailed(target)) {
            record.anomaly = `replica ${target} said its storage failed but its process went on running`
            detail += ': it said so but went on running'
          } else detail += ', and it wrote less than that while the fault held'
          await cluster.kill(target)
        } else {
          detail += `: it said so and exited ${ended.signal ?? `code ${ended.code}`}`
          if (!ended.storageFailed || ended.code !== 1) record.anomaly = `replica ${target} ended (${ended.signal ?? `code ${ended.code}`}) ${ended.storageFailed ? 'after saying its storage failed' : 'without saying at error level that its storage failed'}; it must say so and exit 1`
        }
        log(`  ${(now() / 1000).toFixed(1)} s  full ${target}: restarting it with room`)
        await cluster.start(target)
        ;(record as { detail: string }).detail = `${detail}; restarted from its disk with room`
        if (!(await servesAgain(cluster, target))) (record as { detail: string }).detail += '; it did not serve again within 30 s'
        break
      }
      case 'pause':
        cluster.pause(target)
        ;(record as { detail: string }).detail = 'SIGSTOP, then SIGCONT'
        await sleep(holdMs)
        cluster.resume(target)
        break
      case 'partition': {
        // Every link of the target cut as `cut` cuts one: both ways, or, one time in three, one way (the bytes from
        // the target to the others lost, or to it; the other way passes).
        const oneWay = random.chance(0.3)
        const direction = random.chance(0.5) ? 'out' : 'in'
        for (const other of others) cutLink(cluster, target, other, oneWay ? direction : 'both')
        ;(record as { detail: string }).detail = oneWay ? `one way (${direction === 'out' ? 'from' : 'to'} it) lost` : 'isolated from the others'
        held.partitioned.add(target)
        await sleep(holdMs)
        held.partitioned.delete(target)
        for (const other of others) healCut(cluster, target, other, held.partitioned)
        break
      }
      case 'cut': {
        // One link between the target and one other replica stops, both ways or one way, while both still reach the
        // rest (the simulator's `cut`): a partition that is no clean split. The target is the fault; the other end
        // is not held, so another loop may strike it (it is then the other loop's fault).
        const other = random.pick(others)
        const way = random.pick(['both', 'out', 'in'] as const)
        ;(record as { detail: string }).detail = cutLink(cluster, target, other, way)
        held.partitioned.add(target)
        await sleep(holdMs)
        held.partitioned.delete(target)
        healCut(cluster, target, other, held.partitioned)
        break
      }
      case 'reset':
        for (const other of others) for (const link of cluster.linksBetween(target, other)) link.reset()
        ;(record as { detail: string }).detail = 'every connection to the others cut'
        break
      case 'skew': {
        // Its clock set 50 ms to 1 s ahead or behind the others' (beyond the real-time orderer's skew bound, 10 ms
        // by default), then right again: set back, it holds still until it catches up, so the replica is not
        // healed until it serves again.
        const offsetMs = (random.chance(0.5) ? 1 : -1) * random.int(50, 1000)
        const applied = await cluster.skew(target, offsetMs)
        ;(record as { detail: string }).detail = applied ? `clock set ${offsetMs > 0 ? '+' : ''}${offsetMs} ms off, then right` : 'its clock could not be set (not running)'
        await sleep(holdMs)
        if (applied) {
          await cluster.skew(target, 0)
          if (!(await servesAgain(cluster, target))) (record as { detail: string }).detail += '; it did not serve again within 30 s'
        }
        break
      }
      case 'member': {
        // An operator removes the target through a serving replica (`lockstep member remove`), waits for a view without
        // it, keeps it out a while, then admits it (`member add`) through serving replicas until it serves again. Half
        // the time the target is a dead machine given up: killed first, then removed, then started again (from its
        // disk, which still counts it in, or wiped) while it is out, where it must stay until it is admitted.
        // No other loop's fault since this one began (with 3 replicas, never): the views then change only for the operator.
        const alone = watchAlone(held, faultLog)
        const outcome = random.chance(0.5) ? await removeDeadAndAdmit(cluster, target, holdMs, random.chance(0.3), alone) : { detail: await removeAndAdmit(cluster, target, holdMs) }
        ;(record as { detail: string }).detail = outcome.detail
        if (outcome.anomaly !== undefined) record.anomaly = outcome.anomaly
        break
      }
    }
    record.end = now()
    log(`  ${(record.start / 1000).toFixed(1)} s  ${kind} ${target}: ${record.detail} (${((record.end - record.start) / 1000).toFixed(1)} s)${record.anomaly === undefined ? '' : `; VIOLATION: ${record.anomaly}`}`)
  }
}

/** The links of a cluster, as the `cut` nemesis sets them. */
export type ClusterLinks = Pick<ChaosCluster, 'link' | 'linksBetween'>

/**
 * The `cut` nemesis: the link between `target` and `other` stops, `both` ways (down: open connections cut, new ones
 * refused), or one way, `out` of the target (its bytes to `other` are lost, whichever side dialed) or `in`to it. Says
 * what it did.
 */
export function cutLink(cluster: ClusterLinks, target: string, other: string, way: 'both' | 'out' | 'in'): string {
  if (way === 'both') {
    for (const link of cluster.linksBetween(target, other)) link.set({ kind: 'down' })
    return `its link to ${other} down`
  }
  // A proxy's `forward` bytes come from the side that dialed it.
  cluster.link(target, other).set({ kind: 'drop', direction: way === 'out' ? 'forward' : 'backward' })
  cluster.link(other, target).set({ kind: 'drop', direction: way === 'out' ? 'backward' : 'forward' })
  return `its link to ${other} one way (${way === 'out' ? 'from' : 'to'} it) lost`
}

/** Heals what {@link cutLink} did, unless another loop keeps `other` partitioned (its links stay as that loop set them). */
export function healCut(cluster: ClusterLinks, target: string, other: string, partitioned: ReadonlySet<string>): void {
  if (partitioned.has(other)) return
  for (const link of cluster.linksBetween(target, other)) link.set({ kind: 'pass' })
}

/**
 * Where the records of the newest write-ahead log segment in `dataDir` end (0 without one): past it the file holds
 * zeros written ahead of them, or nothing. A file-size limit applies to the offset written, so a limit above this
 * stops the records there, whatever the file's size.
 */
async function newestSegmentBytes(dataDir: string): Promise<number> {
  const newest = await newestSegment(dataDir)
  return newest === undefined ? 0 : endOfData(newest.bytes)
}

/** The newest write-ahead log segment of a replica's data directory: its name, path and bytes (undefined if none). */
async function newestSegment(dataDir: string): Promise<{ readonly name: string; readonly file: string; readonly bytes: Buffer } | undefined> {
  const segments = (await readdir(dataDir).catch(() => [] as string[])).filter((name) => /^wal-\d+\.log$/.test(name)).sort()
  const name = segments.at(-1)
  if (name === undefined) return undefined
  const file = join(dataDir, name)
  return { name, file, bytes: await readFile(file) }
}

/**
 * Damages the disk of a stopped replica one of three ways, chosen by the seed: one bit flipped in the middle of
 * its newest write-ahead log segment; a torn tail (the segment's last bytes cut off, as a crash mid-write
 * leaves it); or its newest snapshot lost (deleted; a bit flip when it has none). Says what it did.
 */
async function damageDisk(dataDir: string, random: SeededRandom): Promise<string> {
  const way = random.int(0, 2)
  if (way === 1) return tearTail(dataDir, random)
  if (way === 2) {
    const snapshots = (await readdir(dataDir).catch(() => [] as string[])).filter((name) => /^snapshot-\d+\.snap$/.test(name)).sort()
    const newest = snapshots.at(-1)
    if (newest) {
      await rm(join(dataDir, newest))
      return `snapshot ${newest} deleted`
    }
  }
  return flipBit(dataDir, random)
}

/**
 * Makes the disk of a stopped replica lose the last records it had synced, as a disk (or a virtual machine's cache)
 * that acknowledged flushes it never made does: the last 1 to 20 whole records of its newest write-ahead log segment
 * become zeros, which recovery reads as the end of the log (nothing looks damaged). Says what it did.
 */
async function loseTail(dataDir: string, random: SeededRandom): Promise<string> {
  const segment = await newestSegment(dataDir)
  if (!segment) return 'no log segment to lose records from'
  const { name: newest, file, bytes } = segment
  const frames = recordFrames(bytes)
  if (frames.length === 0) return `no records in ${newest} to lose`
  const lost = Math.min(random.int(1, 20), frames.length)
  const first = frames[frames.length - lost]!
  const last = frames.at(-1)!
  bytes.fill(0, first.offset, last.end)
  await writeFile(file, bytes)
  const records = lost === 1 ? `record ${last.position}` : `records ${first.position}–${last.position}`
  return `its disk lost the last ${lost} record${lost === 1 ? '' : 's'} of ${newest} (${records} of its log): zeros where they were`
}

/** The record frames of a write-ahead log segment, up to its end or the zeros written ahead of them (docs/storage.md). */
function recordFrames(bytes: Buffer): { readonly offset: number; readonly end: number; readonly position: number }[] {
  const frames: { offset: number; end: number; position: number }[] = []
  // A frame is 16 bytes of header (checksum, length, position) and its data, after the segment's 20-byte header; no
  // frame's position (bytes 8 to 15) is 0, so the zeros written ahead of the records end them.
  for (let offset = SEGMENT_HEADER_BYTES; offset + FRAME_HEADER_BYTES <= bytes.length; ) {
    const position = Number(bytes.readBigUInt64LE(offset + 8))
    const end = offset + FRAME_HEADER_BYTES + bytes.readUInt32LE(offset + 4)
    if (position === 0 || end > bytes.length) break
    frames.push({ offset, end, position })
    offset = end
  }
  return frames
}

/** The write-ahead log's segment header and record frame header, in bytes (`@lockstep/storage-file`'s format, version 1). */
const SEGMENT_HEADER_BYTES = 20
const FRAME_HEADER_BYTES = 16

/** One past the last byte of `bytes` that is not zero: where a segment's records end (zeros are written ahead of them). */
function endOfData(bytes: Uint8Array): number {
  let end = bytes.length
  while (end > 0 && bytes[end - 1] === 0) end--
  return end
}

/**
 * Tears the newest write-ahead log segment as a crash in the middle of a write does: the last 1 to 40 bytes of
 * its records did not land. In a segment with zeros written ahead of its records they read as zeros (the file
 * keeps its size); in one without, the file is cut short.
 */
async function tearTail(dataDir: string, random: SeededRandom): Promise<string> {
  const segment = await newestSegment(dataDir)
  if (!segment) return 'no log segment to tear'
  const { name: newest, file, bytes } = segment
  const end = endOfData(bytes)
  if (end < 64) return `${newest} too short to tear`
  const cut = random.int(1, 40)
  if (end < bytes.length) {
    bytes.fill(0, end - cut, end)
    await writeFile(file, bytes)
    return `torn tail: the last ${cut} bytes of the records in ${newest} zeroed (bytes ${end - cut} to ${end})`
  }
  await writeFile(file, bytes.subarray(0, bytes.length - cut))
  return `torn tail: the last ${cut} bytes of ${newest} cut off`
}

/** Flips one bit in the middle of the newest write-ahead log segment of a stopped replica; says where. */
async function flipBit(dataDir: string, random: SeededRandom): Promise<string> {
  const segment = await newestSegment(dataDir)
  if (!segment) return 'no log segment to damage'
  const { name: newest, file, bytes } = segment
  // In the middle of its records, not in the zeros written ahead of them.
  const end = endOfData(bytes)
  if (end < 64) return `${newest} too short to damage`
  const offset = Math.floor(end / 4) + random.int(0, Math.floor(end / 2))
  bytes[offset] = bytes[offset]! ^ (1 << random.int(0, 7))
  await writeFile(file, bytes)
  return `one bit flipped in ${newest} at offset ${offset} of the ${end} bytes of its records`
}

/**
 * The `member` nemesis: removes `target` through a serving replica, waits (at most 30 s) for a serving replica's view
 * without it, keeps it out `holdMs`, then asks serving replicas in turn to admit it until it serves again in a view
 * (at most 30 s). Says what happened.
 */
async function removeAndAdmit(cluster: ChaosCluster, target: string, holdMs: number): Promise<string> {
  const via = await newestServing(cluster, target)
  if (!via || !(await cluster.member(via.id, 'remove', target))) return 'no serving replica took the removal'
  const out = await within(30_000, async () => (await servingOthers(cluster, target)).some((s) => s.viewId > via.viewId && !s.view.includes(target)))
  await sleep(holdMs)
  const back = await admitUntilServing(cluster, target)
  return `removed through ${via.id}${out ? '' : ' (no view without it within 30 s)'}, admitted again${back ? '' : '; it did not serve again within 30 s'}`
}

/**
 * The `member` nemesis on a dead machine: kills `target` (kill -9), removes it through a serving replica, waits (at
 * most 30 s) for a view whose configuration lacks it, starts it again (`wipe`: with its disk wiped; otherwise from its
 * disk, which still counts it in the configuration), and watches it for `holdMs`: no replica's view newer than the one
 * the removal showed in may have it as a member or in its configuration, as only an operator's admission brings it
 * back (found in core by the simulator: a replica restarted from its disk forgot the removal and added it back). A
 * replica added back as a member outside the configuration is removed again at once, too fast to be seen between two
 * looks, and the cluster changes views for ever; so while no other fault strikes (`alone`), the views installed
 * during the watch count too: with nothing for a view change to do, more than {@link CHURN_WHILE_OUT} is a violation
 * (a slow moment of a loaded machine may cost a suspicion and the view change that heals it). Then admits
 * it as {@link removeAndAdmit} does. Says what happened, and what broke (`anomaly`), if anything did.
 */
async function removeDeadAndAdmit(cluster: ChaosCluster, target: string, holdMs: number, wipe: boolean, alone: () => boolean): Promise<{ detail: string; anomaly?: string }> {
  await cluster.kill(target)
  const via = await newestServing(cluster, target)
  if (!via || !(await cluster.member(via.id, 'remove', target))) {
    await cluster.start(target)
    const serves = await servesAgain(cluster, target)
    return { detail: `kill -9; no serving replica took the removal; restarted${serves ? '' : ', and it did not serve again within 30 s'}` }
  }
  let outView: number | undefined
  await within(30_000, async () => {
    const without = (await servingOthers(cluster, target)).filter((s) => s.viewId > via.viewId && !s.configuration.includes(target))
    if (without.length > 0) outView = Math.max(...without.map((s) => s.viewId))
    return outView !== undefined
  })
  if (wipe) await cluster.wipe(target)
  await cluster.start(target)
  let anomaly: string | undefined
  if (outView !== undefined) {
    const outIn = outView
    const before = await cluster.status(false)
    await within(holdMs, async () => {
      // A replica that serves in its view speaks for that view's configuration, and no other: one that heard of a newer
      // view it is not a member of (it rejoins by state transfer) may know only an older view's configuration. Found (seed
      // 46003, 5 replicas, real time): r3, left out of view 310, reported view 310 with its older configuration, which
      // still had r5; the replicas serving in view 310 had it out. The status now names the view its configuration is
      // from (`configurationViewId`), and the simulator's check looks at serving members too.
      const back = (await cluster.status(false)).find((s) => s.state === 'normal' && s.view.includes(s.id) && s.viewId > outIn && (s.view.includes(target) || s.configuration.includes(target)))
      if (back) anomaly = `'${target}' came back into view ${back.viewId} at '${back.id}' (members ${back.view.join(', ')}; configuration ${back.configuration.join(', ')}) after its removal showed in view ${outIn}, with no admission sent`
      return anomaly !== undefined
    })
    const after = await cluster.status(false)
    const installed = viewsInstalled(before, after.filter((s) => s.id !== target))
    if (anomaly === undefined && installed > CHURN_WHILE_OUT && alone()) {
      anomaly = `the others installed ${installed} views in ${(holdMs / 1000).toFixed(1)} s while '${target}' was out and no other fault struck, with nothing for a view change to do (${after.map((s) => `${s.id} ${s.state} in view ${s.viewId}`).join(', ')})`
    }
  } else await sleep(holdMs)
  const back = await admitUntilServing(cluster, target)
  const removal = outView === undefined ? ' (no configuration without it within 30 s)' : `, out from view ${outView}`
  return { detail: `kill -9, removed through ${via.id}${removal}, restarted ${wipe ? 'with its disk wiped' : 'from its disk'} while out, admitted again${back ? '' : '; it did not serve again within 30 s'}`, anomaly }
}

/** Views the others may install while a removed replica is watched (see {@link removeDeadAndAdmit}); flapping installs dozens. */
const CHURN_WHILE_OUT = 3

/** The serving replicas other than `target` (status `normal`). */
async function servingOthers(cluster: ChaosCluster, target: string): Promise<ReplicaStatus[]> {
  return (await cluster.status(false)).filter((s) => s.id !== target && s.state === 'normal')
}

/** The serving replica other than `target` in the newest view (whom an operator asks, as `lockstep member` does). */
async function newestServing(cluster: ChaosCluster, target: string): Promise<ReplicaStatus | undefined> {
  return (await servingOthers(cluster, target)).sort((a, b) => b.viewId - a.viewId)[0]
}

/** Asks the newest serving replica to admit `target` until it serves in a view with itself (at most 30 s); whether it did. */
async function admitUntilServing(cluster: ChaosCluster, target: string): Promise<boolean> {
  return within(30_000, async () => {
    if ((await cluster.status(false)).some((s) => s.id === target && s.state === 'normal' && s.view.includes(target))) return true
    const newest = await newestServing(cluster, target)
    if (newest) await cluster.member(newest.id, 'add', target)
    return false
  })
}

/** Polls `check` every 200 ms until it holds or `ms` passed; whether it held. */
async function within(ms: number, check: () => Promise<boolean>): Promise<boolean> {
  const deadline = performance.now() + ms
  while (performance.now() < deadline) {
    if (await check()) return true
    await sleep(200)
  }
  return false
}

/** Waits (at most 30 s) until replica `id` reports the status `normal`. */
async function servesAgain(cluster: ChaosCluster, id: string): Promise<boolean> {
  return within(30_000, async () => (await cluster.status(false)).some((s) => s.id === id && s.state === 'normal'))
}

/**
 * Waits (at most 60 s, with no fault injected) until every replica of a new cluster has served once: status
 * `normal`, in a view that includes it. Until a replica has, it holds no state, and no replica can tell it from
 * one that restarted without its state (amnesia, a wiped disk): it may not vote or count toward a majority
 * (ARCHITECTURE.md, "Amnesia is a fault of its own"), so it is as good as down, one of the F the cluster
 * tolerates. Faults striking the others before it served would take the cluster beyond F, where a stall is the
 * design (the simulator's budget counts such replicas the same way: `FaultBudget`). Found (CI, seed 3, 5
 * replicas under load): the faults began 0.3 s after the processes did, before the late replicas had the state;
 * two amnesias of replicas that had started the cluster left fewer than a majority holding it, and nothing was
 * served for the whole run. A cluster that does not form with no fault at all is a violation of its own.
 */
async function formed(cluster: ChaosCluster): Promise<{ ok: true; ms: number } | { ok: false; problem: string }> {
  const started = performance.now()
  const served = new Set<string>()
  let last = ''
  while (performance.now() - started < 60_000) {
    const statuses = await cluster.status(false)
    for (const s of statuses) if (s.state === 'normal') served.add(s.id)
    last = statuses.map((s) => `${s.id} ${s.state} @${s.position}`).join(', ')
    if (cluster.ids.every((id) => served.has(id))) return { ok: true, ms: performance.now() - started }
    await sleep(100)
  }
  return { ok: false, problem: `the cluster did not form within 60 s of its start with no fault injected: ${cluster.ids.filter((id) => !served.has(id)).join(', ')} never served (${last})` }
}

/** Waits until every replica runs, is normal and at one position, twice in a row; at most 60 s. */
async function settle(cluster: ChaosCluster): Promise<{ ok: true } | { ok: false; problem: string }> {
  let last = ''
  let same = 0
  const deadline = performance.now() + 60_000
  while (performance.now() < deadline) {
    const statuses = await cluster.status(false)
    const summary = statuses.map((s) => `${s.id} ${s.state} @${s.position}`).join(', ')
    const good = statuses.length === cluster.ids.length && statuses.every((s) => s.state === 'normal') && new Set(statuses.map((s) => s.position)).size === 1
    same = good && summary === last ? same + 1 : 0
    last = summary
    if (same >= 2) return { ok: true }
    await sleep(200)
  }
  return { ok: false, problem: `the replicas did not converge within 60 s after the faults healed (${last})` }
}

/** Once settled, a cluster is given this long to finish what was under way… */
const SETTLED_GRACE_MS = 1_000
/** …and then watched this long: it must install at most one view in it (none is due; one is tolerated as late). */
const SETTLED_WATCH_MS = 3_000

/**
 * A settled cluster stops changing views: with every fault healed and every replica serving at one position,
 * nothing is left for a view change to do. One that goes on (a membership request that never clears, a
 * suspicion that never ends) stops serving for each view change, for ever, and no check of the history shows it.
 * The simulator checks the same on virtual time; this is the real processes' version.
 */
async function viewChurn(cluster: ChaosCluster): Promise<string | undefined> {
  await sleep(SETTLED_GRACE_MS)
  const before = await cluster.status(false)
  await sleep(SETTLED_WATCH_MS)
  const after = await cluster.status(false)
  const installed = viewsInstalled(before, after)
  if (installed <= 1) return undefined
  return `the cluster went on changing views after it settled: ${installed} views installed in ${SETTLED_WATCH_MS / 1000} s with every fault healed (${after.map((s) => `${s.id} ${s.state} in view ${s.viewId} at ${s.position}`).join(', ')})`
}

/** The most views any replica of `after` installed since `before` (one missing from `before` counts none). */
function viewsInstalled(before: readonly ReplicaStatus[], after: readonly ReplicaStatus[]): number {
  return Math.max(0, ...after.map((s) => s.viewId - (before.find((b) => b.id === s.id)?.viewId ?? s.viewId)))
}

/** The longest gap between successful operations, overall and by the kind of fault active when it began. */
function unavailability(results: readonly WorkloadResult[], faults: readonly FaultRecord[], started: number): { longest: number; byNemesis: Record<string, number> } {
  let longest = 0
  const byNemesis: Record<string, number> = {}
  for (const result of results) {
    const times = [...result.successes].sort((a, b) => a - b).map((t) => t - started)
    for (let i = 1; i < times.length; i++) {
      const gap = times[i]! - times[i - 1]!
      longest = Math.max(longest, gap)
      for (const fault of faults) {
        if (fault.start <= times[i]! && fault.end >= times[i - 1]!) byNemesis[fault.kind] = Math.max(byNemesis[fault.kind] ?? 0, gap)
      }
    }
  }
  return { longest, byNemesis }
}
