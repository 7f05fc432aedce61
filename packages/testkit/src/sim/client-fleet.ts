import type { LockstepClient } from '@lockstep/client'
import type { OutputNotice, Reply } from '@lockstep/interface'
import type { VoterFactory } from '@lockstep/voting'
import type { Operation } from '../lincheck/operation'
import type { SeededRandom } from './prng'
import type { SimCluster } from './sim-cluster'
import type { Workload, WorkloadEvent } from './workloads'

/** How the checks name a request: `c1#4` for the first run of client c1, `c1~2#4` for its third run. */
export function requestKey(client: string, incarnation: number | undefined, seq: number): string {
  return incarnation ? `${client}~${incarnation}#${seq}` : `${client}#${seq}`
}

/** How the checks name an output addressed to a client run: `c1 o3`, `c1~2 o3`. */
export function outputKey(client: string, incarnation: number | undefined, outputSeq: number): string {
  return `${incarnation ? `${client}~${incarnation}` : client} o${outputSeq}`
}

/** Options of {@link ClientFleet}. */
export interface ClientFleetOptions {
  readonly cluster: SimCluster
  readonly workload: Workload
  readonly clients: number
  /** Requests across all clients. */
  readonly ops: number
  /**
   * Requests each client keeps in flight: that many workload loops share the client's one `LockstepClient` (its
   * id, incarnation and request numbering), each a sequential process of the history. Default 1.
   */
  readonly inFlight?: number
  readonly retryAfterMs: number
  /** Receives workload failures (a client that threw). */
  readonly violations: string[]
  /** Extra virtual time added to every sleep of the workload (the clients' pace), asked once per sleep. Default none. */
  readonly thinkMs?: () => number
  /** How every client votes on the replicas' answers. Default: the first answer wins. */
  readonly voter?: VoterFactory
  /** Record every reply and output the clients accept (`accepted`), for the voting checks. */
  readonly recordAccepted?: boolean
}

/** One run of a client process: a `LockstepClient` with its own incarnation, running the workload. */
interface ClientRun {
  readonly index: number
  readonly id: string
  readonly incarnation: number
  readonly client: LockstepClient
  /** Requests of this run sent and not answered, by key. */
  readonly inFlight: Set<string>
  /** Whether each of its loops lets the process stop now (see `WorkloadClient.restartable`); it stops once all do. */
  readonly loopsRestartable: boolean[]
  restartable: boolean
  /** A restart waits for the workload to allow it; then the next run starts after this downtime. */
  restartAfterMs: number | undefined
  stopped: boolean
  loop: Promise<void>
}

/**
 * The simulated client processes: one per client id, each running the workload (in `inFlight` loops at once that
 * share its `LockstepClient`, so that it pipelines its requests), and restarted by the `client-restart` fault. A
 * restart stops the running `LockstepClient` (its requests in flight are abandoned: the history records each as
 * never returning) and starts a new one under the same id with a higher incarnation, which carries on with the
 * work its earlier runs left. Records what the checks need: every request submitted and acknowledged (with its
 * position), the ones in flight (for the liveness bound), and the ones abandoned.
 */
export class ClientFleet {
  /** With `recordAccepted`: each reply the clients took (by request key) and each output (by output key). */
  readonly accepted = { replies: new Map<string, Reply>(), outputs: new Map<string, OutputNotice>() }
  /** How often each replica's answers were outvoted, over every client. */
  readonly dissent = new Map<string, number>()
  readonly history: Operation[] = []
  /** The request each operation of the history sent, by key (`c1#4`), where the workload said. */
  readonly operationRequests = new Map<Operation, string>()
  readonly events: WorkloadEvent[] = []
  readonly submitted = new Set<string>()
  readonly acknowledged = new Set<string>()
  readonly acknowledgedAt = new Map<string, number>()
  /** Which replica sent the reply each client took, by request key. */
  readonly acknowledgedFrom = new Map<string, string>()
  /** Requests sent and not answered yet, with the virtual time they were sent. */
  readonly inFlight = new Map<string, number>()
  /** Requests whose client process stopped before their reply: they may or may not execute. */
  readonly abandoned = new Set<string>()
  /** The workload loop of each client's current run (a stopped run's loop may never settle: it sleeps for ever). */
  get loops(): Promise<void>[] {
    return this.runs.map((run) => run.loop)
  }
  /** Requests the clients completed. */
  operations = 0
  /** Client ids that finished their work (or failed). */
  finished = 0
  /** Client processes stopped whose new run has not started yet. */
  restartsPending = 0
  /** When the last client restart completed (its new run started). */
  lastRestartAtMs = -Infinity
  /** The most requests one client run had in flight at once. */
  peakInFlight = 0
  private readonly options: ClientFleetOptions
  private readonly runs: ClientRun[] = []
  private readonly acknowledgedById = new Map<string, number>()
  private readonly journals = new Map<string, Map<string, unknown>>()
  private readonly done = new Set<number>()
  /** The random source of each client's next run, drawn when its restart was asked for. */
  private readonly nextRandom = new Map<number, SeededRandom>()
  private counter = 0
  /** Set when the run ends: clients stopped then are not failures. */
  private closing = false

  constructor(options: ClientFleetOptions) {
    this.options = options
  }

  /** True once every client id finished its work. */
  get allFinished(): boolean {
    return this.finished >= this.options.clients
  }

  /** Starts the first run of client `index` (ids c1, c2, …), its workload drawing from `random`. */
  async start(index: number, random: SeededRandom): Promise<void> {
    await this.startRun(index, 0, random)
  }

  /**
   * `client-restart`: picks a client that has work left and restarts it, `downtimeMs` after it may stop (see
   * `WorkloadClient.restartable`). Returns its id, or undefined if no client can be restarted.
   */
  restart(random: SeededRandom, downtimeMs: number): string | undefined {
    const candidates = this.runs.filter((run) => !run.stopped && run.restartAfterMs === undefined && !this.done.has(run.index))
    if (candidates.length === 0) return undefined
    const run = random.pick(candidates)
    const nextRandom = random.fork()
    run.restartAfterMs = downtimeMs
    this.nextRandom.set(run.index, nextRandom)
    if (run.restartable) this.options.cluster.background(`stopping client ${run.id}`, this.stop(run))
    return run.id
  }

  /** The run is over: the clients are about to be stopped, and what their loops throw then is no failure. */
  close(): void {
    this.closing = true
  }

  /** The clients' pending requests, oldest first: `[key, sent at]`. */
  oldestInFlight(): [string, number] | undefined {
    let oldest: [string, number] | undefined
    for (const entry of this.inFlight) if (!oldest || entry[1] < oldest[1]) oldest = entry
    return oldest
  }

  private async startRun(index: number, incarnation: number, random: SeededRandom): Promise<void> {
    const { cluster, workload, clients, ops, retryAfterMs, violations } = this.options
    const replicaIds = cluster.initialMembers
    const id = `c${index + 1}`
    // Client c prefers replica c (round robin), so the clients spread over the replicas; the spares an operator may
    // bring in for replaced replicas (`replace`) come last: the clients' configuration lists every replica.
    const spares = cluster.replicaIds.filter((replica) => !replicaIds.includes(replica))
    const preference = [...replicaIds.slice(index % replicaIds.length), ...replicaIds.slice(0, index % replicaIds.length), ...spares]
    const inFlight = new Set<string>()
    // The replica whose message the client is handling: the one whose reply it takes.
    let handlingFrom: string | undefined
    // The request submitted last and not yet asked for by `requestKey` (a submission numbers it at once).
    let lastSubmitted: string | undefined
    const client = await cluster.client(id, {
      replicas: preference,
      retryAfterMs,
      incarnation,
      voter: this.options.voter,
      onMessage: (from) => (handlingFrom = from),
      observer: {
        submitted: (seq) => {
          const key = requestKey(id, incarnation, seq)
          this.submitted.add(key)
          this.inFlight.set(key, cluster.scheduler.now())
          inFlight.add(key)
          lastSubmitted = key
          if (inFlight.size > this.peakInFlight) this.peakInFlight = inFlight.size
        },
        replied: (seq, reply) => {
          const key = requestKey(id, incarnation, seq)
          this.operations++
          this.acknowledgedById.set(id, (this.acknowledgedById.get(id) ?? 0) + 1)
          this.acknowledged.add(key)
          this.inFlight.delete(key)
          inFlight.delete(key)
          if (reply.position !== undefined) this.acknowledgedAt.set(key, reply.position)
          if (handlingFrom !== undefined) this.acknowledgedFrom.set(key, handlingFrom)
          if (this.options.recordAccepted) this.accepted.replies.set(key, reply)
        },
      },
    })
    if (this.options.recordAccepted) client.onNotice((notice) => this.accepted.outputs.set(outputKey(id, incarnation, notice.outputSeq), notice))
    client.onDissent((event) => {
      for (const replica of event.dissenting) this.dissent.set(replica, (this.dissent.get(replica) ?? 0) + 1)
    })
    const loops = this.options.inFlight ?? 1
    const run: ClientRun = { index, id, incarnation, client, inFlight, loopsRestartable: new Array<boolean>(loops).fill(true), restartable: true, restartAfterMs: undefined, stopped: false, loop: Promise.resolve() }
    this.runs[index] = run
    let journal = this.journals.get(id)
    if (!journal) this.journals.set(id, (journal = new Map()))
    const share = Math.floor(ops / clients) + (index < ops % clients ? 1 : 0)
    const requests = incarnation === 0 ? share : Math.max(0, share - (this.acknowledgedById.get(id) ?? 0))
    const { scheduler } = cluster
    // One loop draws from the run's source, as a client always did; several draw from one fork each.
    const randoms = loops === 1 ? [random] : Array.from({ length: loops }, () => random.fork())
    const runs = randoms.map((loopRandom, loop) =>
      workload.runClient({
        id,
        client,
        random: loopRandom,
        requests: Math.floor(requests / loops) + (loop < requests % loops ? 1 : 0),
        ...(loops === 1 ? {} : { process: `${id}.${loop + 1}` }),
        incarnation,
        journal,
        now: () => scheduler.now(),
        tick: () => ++this.counter,
        // A stopped process sleeps for ever: its loops never go on.
        sleep: (ms) => new Promise((resolve) => scheduler.setTimer(ms + (this.options.thinkMs?.() ?? 0), () => run.stopped || resolve())),
        record: (operation, request) => {
          this.history.push(operation)
          if (request !== undefined) this.operationRequests.set(operation, request)
        },
        requestKey: () => {
          const key = lastSubmitted
          lastSubmitted = undefined
          return key
        },
        note: (event) => run.stopped || this.events.push(event),
        restartable: (ok) => {
          run.loopsRestartable[loop] = ok
          run.restartable = run.loopsRestartable.every(Boolean)
          if (run.restartable && run.restartAfterMs !== undefined && !run.stopped) this.options.cluster.background(`stopping client ${id}`, this.stop(run))
        },
      }),
    )
    // The run is done when every loop is; the first loop that fails fails it. (One loop is awaited as it is: an
    // extra turn of promises before `finish` would move the end of every seed's run.)
    const allLoops: Promise<unknown> = runs.length === 1 ? runs[0]! : Promise.all(runs)
    run.loop = allLoops
      .then(
        () => this.finish(run),
        (error: unknown) => {
          if (run.stopped || this.closing) return
          violations.push(`client ${id} failed: ${(error as Error).message}`)
          this.finish(run)
        },
      )
  }

  private finish(run: ClientRun): void {
    if (run.stopped) return
    this.done.add(run.index)
    this.finished++
    // It finished before it could stop: no restart after all.
    run.restartAfterMs = undefined
  }

  /** Faults stopped striking: restarts still waiting for their client to allow them are called off. */
  cancelDeferredRestarts(): void {
    for (const run of this.runs) if (!run.stopped) run.restartAfterMs = undefined
  }

  /** Stops a run (kill -9 of the client process) and starts the next one after its downtime. */
  private async stop(run: ClientRun): Promise<void> {
    run.stopped = true
    this.restartsPending++
    for (const key of run.inFlight) {
      this.inFlight.delete(key)
      this.abandoned.add(key)
    }
    const { scheduler } = this.options.cluster
    const downtimeMs = run.restartAfterMs ?? 0
    await run.client.stop()
    scheduler.setTimer(downtimeMs, () => {
      const restarted = this.startRun(run.index, run.incarnation + 1, this.nextRandom.get(run.index)!).then(() => {
        this.restartsPending--
        this.lastRestartAtMs = scheduler.now()
      })
      this.options.cluster.background(`restarting client ${run.id}`, restarted)
    })
  }
}
