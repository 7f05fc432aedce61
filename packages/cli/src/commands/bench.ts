import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import type { LockstepClient } from '@lockstep/client'
import { ErrorCodes, LockstepError, isLockstepError, type OutputNotice, type Reply, type StateMachine } from '@lockstep/interface'
import { intFlag, parseFlags } from '../args'
import { clientCertificates, clusterClient } from '../cluster-client'
import { authProblems, configError, loadClusterConfig, voterNames, type LoadedClusterConfig, type VoterName } from '../cluster-config'
import { ExitCode, type Io } from '../io'
import { loadMachine } from '../machine-source'

/** Help text of `lockstep bench`. */
export const benchUsage = `lockstep bench --cluster <cluster.json> --workload put|lock [--clients 16] [--in-flight 1] [--duration 10] [--warmup 1] [--voter first|majority|byzantine] [--shared-connections] [--cert FILE --key FILE]... [--json]

Measures a running cluster from this machine: N closed-loop clients (each
with its own connection, or with --shared-connections one connection to each
replica for them all, and one request in flight) for --warmup seconds, then
for --duration seconds, and prints the committed operations per second and
the p50/p99 latency of one operation in milliseconds.
  --cluster   the cluster's configuration (as written by \`lockstep cluster up\`)
  --workload  put:  kv puts, each client writing one of the 16 keys lockstep-bench-0..15
                    (they stay in the store); needs a machine with a put command (kv)
              lock: acquire + release pairs, every client contending for the
                    machine's one lock (mutex or a DSL mutex such as the lock
                    service's safe mutex); one operation is a whole pair, from the
                    acquire's submission until the release's reply
  --clients   closed-loop clients, 1 to 10000 (default 16); clients are spread over
              the replicas, client i first tries replica i mod N
  --in-flight put only: closed loops per client, 1 to 1000 (default 1); with K,
              each client keeps K requests in flight on its connection
              (pipelined, as an application's concurrent calls share its client)
  --duration  seconds measured (default 10; decimals allowed)
  --warmup    seconds run before measuring (default 1; 0 for none)
  --voter     first|majority|byzantine: how the clients decide a result from the
              replicas' answers (default: the configuration's voter)
  --shared-connections
              the clients share one connection to each replica (shareConnections),
              as the clients of one application process can, and as gRPC's clients
              (etcd's) do by default
  --cert/--key  with a cluster that uses TLS (security.tls): a client's certificate
              (CN = client id, OU = client) and key, as for lockstep client; each
              replica knows a client by its certificate, so give one pair per
              client, repeated (--clients is then their number); --in-flight K
              keeps K puts in flight on each, for more load from fewer certificates
  --json      print one JSON object:
              {"workload":"put","clients":16,"in_flight":1,"shared_connections":false,"duration_s":10,"ops":…,"ops_s":…,"p50":…,"p99":…,"errors":0,…}
              (latencies in milliseconds)
Exit 0 on success; 1 if the cluster cannot be reached or a request fails (the
first error on stderr; with --json the object is still printed, with "error");
2 for bad usage, an invalid configuration (a TLS cluster without --cert and
--key), or a machine without the workload's commands.

Examples:
  lockstep bench --cluster .lockstep/cluster/cluster.json --workload put --clients 64 --duration 5
  lockstep bench --cluster .lockstep/cluster/cluster.json --workload lock --json`

/** The workloads of `lockstep bench`. */
export const benchWorkloads = ['put', 'lock'] as const
export type BenchWorkload = (typeof benchWorkloads)[number]

/** What `lockstep bench --json` prints. Latencies are in milliseconds. */
export interface BenchResult {
  readonly workload: BenchWorkload
  readonly clients: number
  /** Requests each client keeps in flight (`--in-flight`; 1 for a lock run). */
  readonly in_flight: number
  /** Whether the clients shared one connection to each replica (`--shared-connections`). */
  readonly shared_connections: boolean
  readonly duration_s: number
  readonly warmup_s: number
  /** Operations completed while measuring (a lock operation is an acquire + release pair). */
  readonly ops: number
  readonly ops_s: number
  readonly p50: number
  readonly p99: number
  readonly max: number
  /** Requests that failed (the run stops at the first). */
  readonly errors: number
  readonly replicas: number
  readonly order: string
  readonly voter: string
  /** The first failure, when `errors` > 0. */
  readonly error?: { readonly code: string; readonly message: string }
}

/** The commands each workload submits. */
const workloadCommands: Readonly<Record<BenchWorkload, readonly string[]>> = { put: ['put'], lock: ['acquire', 'release'] }
/** Latencies kept for the percentiles (about 16 MB); beyond, operations are counted but not sampled. */
const MAX_SAMPLES = 2_000_000
/** The put workload's keys: the store grows by at most this many keys however long it runs. */
const PUT_KEYS = 16

/** `lockstep bench`: measures a running cluster's throughput and latency with closed-loop clients. */
export async function benchCommand(args: string[], io: Io): Promise<number> {
  const { values } = parseFlags('bench', args, {
    cluster: { type: 'string' },
    workload: { type: 'string' },
    clients: { type: 'string' },
    'in-flight': { type: 'string' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    voter: { type: 'string' },
    'shared-connections': { type: 'boolean' },
    cert: { type: 'string', multiple: true },
    key: { type: 'string', multiple: true },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  })
  if (values.help) {
    io.stdout(benchUsage)
    return ExitCode.OK
  }
  const usageError = (problem: string) => {
    io.stderr(`lockstep bench: ${problem}\nUsage: ${benchUsage.split('\n')[0]}   (lockstep bench --help for the options)`)
    return ExitCode.USAGE
  }
  const file = values.cluster as string | undefined
  if (!file) return usageError('--cluster is required')
  const workload = values.workload as string | undefined
  if (workload === undefined) return usageError(`--workload is required (${benchWorkloads.join(' or ')})`)
  if (!(benchWorkloads as readonly string[]).includes(workload)) return usageError(`--workload '${workload}' is not a workload; choose from ${benchWorkloads.join(', ')}`)
  const certs = (values.cert as string[] | undefined) ?? []
  const keys = (values.key as string[] | undefined) ?? []
  if (certs.length !== keys.length) return usageError(`--cert and --key go together, one of each per client (got ${certs.length} --cert and ${keys.length} --key)`)
  const clientCount = intFlag('bench', 'clients', values.clients as string | undefined, certs.length > 0 ? certs.length : 16, 1, 10_000)
  if (certs.length > 0 && clientCount !== certs.length) return usageError(`--clients ${clientCount} with ${certs.length} certificates: under TLS each client is known by its own certificate, so give one --cert and --key per client (or --clients ${certs.length})`)
  const inFlight = intFlag('bench', 'in-flight', values['in-flight'] as string | undefined, 1, 1, 1000)
  if (inFlight > 1 && workload === 'lock') return usageError('--in-flight applies to --workload put only: a lock client holds at most one acquire + release pair at a time')
  const durationS = secondsFlag('duration', values.duration as string | undefined, 10, false)
  const warmupS = secondsFlag('warmup', values.warmup as string | undefined, 1, true)
  const voter = values.voter as string | undefined
  if (voter !== undefined && !(voterNames as readonly string[]).includes(voter)) return usageError(`--voter '${voter}' is not a voter; choose from ${voterNames.join(', ')}`)

  const config = await loadClusterConfig(file, io)
  const problems = authProblems(config, 'client')
  if (problems.length > 0) throw configError(config.file, problems)
  // Under TLS each client proves its id by its own certificate (its CN), on connections of its own.
  const certified = await clientCertificates('bench', config, io, certs.map((cert, i) => ({ cert, key: keys[i]! })))
  if (certified.length > 0) {
    if (values['shared-connections'] === true) return usageError('--shared-connections with a TLS cluster: each client proves its id by its certificate, on connections of its own')
    const names = certified.map((c, i) => c.commonName ?? `(no CN in ${certs[i]!})`)
    if (certified.some((c) => c.commonName === undefined) || new Set(names).size < names.length) {
      return usageError(`each --cert must name a client of its own (its CN): got ${names.join(', ')}`)
    }
  }
  const missing = await missingCommands(config, workload as BenchWorkload, io)
  if (missing !== undefined) {
    io.stderr(`lockstep bench: UNSUPPORTED: --workload ${workload} submits ${workloadCommands[workload as BenchWorkload].join(' and ')}, but the machine of ${config.file} (${config.machine}) has no ${missing.absent.join(' or ')} command (its commands: ${missing.present.join(', ')}); use ${workload === 'lock' ? 'a cluster of mutex or of a lock spec such as the lock service\'s safe-mutex.sm' : 'a cluster of kv'}`)
    return ExitCode.USAGE
  }

  const timeoutMs = config.timeouts.clientTimeoutMs
  const shareConnections = values['shared-connections'] === true
  const ids = config.replicas.map((r) => r.id)
  const prefix = `bench-${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`
  const clients: LockstepClient[] = []
  try {
    for (let i = 0; i < clientCount; i++) {
      const client = await clusterClient(config, {
        id: certified[i]?.commonName ?? `${prefix}-${i}`,
        ...(certified[i] === undefined ? {} : { tls: certified[i]!.credentials }),
        preferred: ids[i % ids.length],
        io,
        shareConnections,
        ...(voter === undefined ? {} : { voter: voter as VoterName }),
      })
      await client.start()
      clients.push(client)
    }
    if (!values.json) io.stderr(`lockstep bench: ${workload} with ${clientCount} clients${inFlight > 1 ? `, ${inFlight} requests in flight each` : ''} against ${config.file}: ${warmupS} s warm-up, ${durationS} s measured`)
    const operation = workload === 'put' ? putOperation(timeoutMs) : lockOperation(timeoutMs, clientCount)
    const run = await closedLoop(clients, inFlight, operation, { warmupMs: warmupS * 1000, durationMs: durationS * 1000 })
    const result = summarize(run, { workload: workload as BenchWorkload, clients: clientCount, in_flight: inFlight, shared_connections: shareConnections, duration_s: durationS, warmup_s: warmupS, config, voter: clients[0]?.voting ?? 'first' })
    if (values.json) io.stdout(JSON.stringify(result))
    else io.stdout(describe(result))
    if (run.firstError !== undefined) {
      io.stderr(`lockstep bench: ${failureMessage(run.firstError, config, timeoutMs)}`)
      return ExitCode.FAILED
    }
    return ExitCode.OK
  } finally {
    await Promise.all(clients.map((client) => client.stop()))
  }
}

/** Reads a number of seconds: positive (or, with `zeroAllowed`, zero), at most a day. */
function secondsFlag(name: string, value: string | undefined, fallback: number, zeroAllowed: boolean): number {
  if (value === undefined) return fallback
  const parsed = Number(value)
  if (value.trim() === '' || !Number.isFinite(parsed) || parsed < 0 || (parsed === 0 && !zeroAllowed) || parsed > 86_400) {
    throw new LockstepError(ErrorCodes.INVALID_CONFIG, `lockstep bench: --${name} must be a number of seconds ${zeroAllowed ? 'from 0' : 'above 0'} up to 86400 (got '${value}')`)
  }
  return parsed
}

/**
 * The workload's commands the cluster's machine lacks, judged from its command schema; undefined when it
 * has them all, or when it cannot be told (a machine without a schema, or one that cannot be loaded here:
 * the cluster then answers for itself).
 */
async function missingCommands(config: LoadedClusterConfig, workload: BenchWorkload, io: Io): Promise<{ absent: string[]; present: string[] } | undefined> {
  let machine: StateMachine
  try {
    machine = await loadMachine(config.machine, config.baseDir, io, '/machine')
  } catch (error) {
    io.stderr(`lockstep bench: cannot load the machine ${config.machine} here to check its commands (${(error as Error).message}); measuring anyway`)
    return undefined
  }
  const present = commandNames(machine)
  if (present === undefined) return undefined
  const absent = workloadCommands[workload].filter((name) => !present.includes(name))
  return absent.length === 0 ? undefined : { absent, present }
}

/** The command names of a machine's `{ name, args }` schema (see @lockstep/machines' commandSchema), if it has one. */
function commandNames(machine: StateMachine): string[] | undefined {
  const branches = (machine.commandSchema as { oneOf?: unknown } | undefined)?.oneOf
  if (!Array.isArray(branches)) return undefined
  const names = branches.map((branch) => (branch as { properties?: { name?: { const?: unknown } } }).properties?.name?.const)
  return names.every((name): name is string => typeof name === 'string') ? names : undefined
}

/** One operation of a closed loop: loop `index`'s `n`th, on its client. Throws on failure. */
export type Operation = (client: LockstepClient, index: number, n: number) => Promise<void>

/** A put of a short value to one of the workload's keys. */
function putOperation(timeoutMs: number): Operation {
  return async (client, index, n) => {
    const reply = await client.submit({ name: 'put', args: { key: `lockstep-bench-${(index + n) % PUT_KEYS}`, value: String(n) } }, { timeoutMs })
    failedReply('put', reply)
  }
}

/** True for an output that grants the lock: the mutex's `OK`, or the safe mutex's fencing token. */
const isGrant = (value: unknown): boolean => value === 'OK' || typeof value === 'number'

/** An acquire (waiting for the grant when queued), then a release. */
function lockOperation(timeoutMs: number, clients: number): Operation {
  // A queued client waits for every client ahead of it: at most all the others, each holding for one pair.
  const grantTimeoutMs = Math.min(timeoutMs * (clients + 1), 2_147_483_647)
  return async (client) => {
    const acquired = await client.submit({ name: 'acquire' }, { timeoutMs })
    failedReply('acquire', acquired)
    const values = acquired.ok ? acquired.outputs.map((o) => o.value) : []
    if (values.includes('HELD')) throw new LockstepError(ErrorCodes.COMMAND_FAILED, `acquire: client '${client.id}' already holds the lock`)
    if (!values.some(isGrant)) await withTimeout(client.nextNotice((notice: OutputNotice) => isGrant(notice.value)), grantTimeoutMs, `client '${client.id}' was queued for the lock and got no grant within ${grantTimeoutMs} ms`)
    const released = await client.submit({ name: 'release' }, { timeoutMs })
    failedReply('release', released)
    if (released.ok && released.outputs.some((o) => o.value === 'NOT_HOLDER')) {
      throw new LockstepError(ErrorCodes.COMMAND_FAILED, `release: client '${client.id}' does not hold the lock (someone else released it: is another client using this cluster's lock?)`)
    }
  }
}

/** Throws an error reply as an error. */
function failedReply(what: string, reply: Reply): void {
  if (!reply.ok) throw new LockstepError(reply.error.code, `${what} failed: ${reply.error.message}`)
}

async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new LockstepError(ErrorCodes.TIMEOUT, what)), timeoutMs)
  })
  try {
    return await Promise.race([promise, expired])
  } finally {
    clearTimeout(timer)
  }
}

/** What a closed-loop run measured. */
interface Run {
  readonly ops: number
  readonly elapsedMs: number
  /** Sorted latencies of the measured operations (ms). */
  readonly latencies: Float64Array
  readonly errors: number
  readonly firstError: unknown
}

/**
 * Runs `inFlight` closed loops on every client (the next operation of a loop once its last one ended) for
 * `warmupMs`, then counts and times the operations that end within `durationMs`. The first failure stops every loop.
 */
export async function closedLoop(clients: readonly LockstepClient[], inFlight: number, operation: Operation, { warmupMs, durationMs }: { warmupMs: number; durationMs: number }): Promise<Run> {
  let running = true
  let measuring = false
  let ops = 0
  let errors = 0
  let firstError: unknown
  let failed: () => void = () => {}
  const failure = new Promise<void>((resolve) => (failed = resolve))
  const samples = new Float64Array(Math.min(MAX_SAMPLES, 1024))
  let latencies = samples
  let sampled = 0
  const workers = clients.flatMap((client, c) => Array.from({ length: inFlight }, (_, k) => ({ client, index: c * inFlight + k })))
  const loops = workers.map(async ({ client, index }) => {
    for (let n = 0; running; n++) {
      const started = performance.now()
      try {
        await operation(client, index, n)
      } catch (error) {
        errors++
        firstError ??= error
        running = false
        failed()
        return
      }
      if (!measuring) continue
      ops++
      if (sampled < MAX_SAMPLES) {
        if (sampled === latencies.length) {
          const grown = new Float64Array(Math.min(MAX_SAMPLES, latencies.length * 2))
          grown.set(latencies)
          latencies = grown
        }
        latencies[sampled++] = performance.now() - started
      }
    }
  })
  const sleep = async (ms: number) => {
    let timer: NodeJS.Timeout | undefined
    await Promise.race([new Promise<void>((resolve) => (timer = setTimeout(resolve, ms))), failure])
    clearTimeout(timer)
  }
  await sleep(warmupMs)
  measuring = true
  const started = performance.now()
  await sleep(durationMs)
  measuring = false
  const elapsedMs = performance.now() - started
  running = false
  await Promise.all(loops)
  return { ops, elapsedMs, latencies: latencies.slice(0, sampled).sort(), errors, firstError }
}

function summarize(run: Run, facts: { workload: BenchWorkload; clients: number; in_flight: number; shared_connections: boolean; duration_s: number; warmup_s: number; config: LoadedClusterConfig; voter: string }): BenchResult {
  const { latencies } = run
  const percentile = (p: number) => round(latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? 0)
  const error = run.firstError === undefined ? undefined : isLockstepError(run.firstError) ? { code: run.firstError.code, message: run.firstError.message } : { code: ErrorCodes.INTERNAL, message: String(run.firstError) }
  return {
    workload: facts.workload,
    clients: facts.clients,
    in_flight: facts.in_flight,
    shared_connections: facts.shared_connections,
    duration_s: facts.duration_s,
    warmup_s: facts.warmup_s,
    ops: run.ops,
    ops_s: run.elapsedMs > 0 ? Math.round((run.ops / run.elapsedMs) * 1000 * 10) / 10 : 0,
    p50: percentile(50),
    p99: percentile(99),
    max: round(latencies[latencies.length - 1] ?? 0),
    errors: run.errors,
    replicas: facts.config.replicas.length,
    order: facts.config.order,
    voter: facts.voter,
    ...(error === undefined ? {} : { error }),
  }
}

/** Milliseconds to microsecond precision. */
const round = (ms: number) => Math.round(ms * 1000) / 1000

function describe(result: BenchResult): string {
  const what = result.workload === 'lock' ? 'acquire+release pairs' : 'puts'
  const inFlight = `${result.in_flight > 1 ? ` × ${result.in_flight} in flight` : ''}${result.shared_connections ? ' sharing one connection per replica' : ''}`
  return `lockstep bench: ${result.workload}, ${result.clients} clients${inFlight}, ${result.duration_s} s on ${result.replicas} replicas (${result.order} ordering): ${result.ops_s.toLocaleString('en-US')} ${what}/s, p50 ${result.p50} ms, p99 ${result.p99} ms, max ${result.max} ms, ${result.errors} errors`
}

function failureMessage(error: unknown, config: LoadedClusterConfig, timeoutMs: number): string {
  if (!isLockstepError(error)) return `INTERNAL: ${String(error)}`
  if (error.code === ErrorCodes.TIMEOUT && /got no reply within/.test(error.message)) {
    const where = config.replicas.map((r) => `${r.id} at ${r.host}:${r.port}`).join(', ')
    return `TIMEOUT: no replica of ${config.file} answered within ${timeoutMs} ms (${where}); check that the cluster is running, that its addresses are reachable and that the client secret matches`
  }
  return `${error.code}: ${error.message} (cluster ${config.file})`
}
