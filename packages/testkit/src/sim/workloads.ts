import type { LockstepClient } from '@lockstep/client'
import { ErrorCodes, isLockstepError, type RandomSource, type StateMachine } from '@lockstep/interface'
import { builtInMachines, type BuiltInMachineName } from '@lockstep/machines'
import { kvModel } from '../lincheck/kv-model'
import { registerModel } from '../lincheck/register-model'
import type { Operation } from '../lincheck/operation'
import { checkHistoryLinearizable } from './checkers/linearizability'
import { checkMutualExclusion } from './checkers/mutual-exclusion'
import type { SeededRandom } from './prng'

/** What a workload's client loop can use. */
export interface WorkloadClient {
  readonly id: string
  readonly client: LockstepClient
  readonly random: SeededRandom
  /**
   * How many requests this loop should issue (a restarted client: its share of what its earlier runs left). A client
   * that keeps K requests in flight runs K loops, each with its share.
   */
  readonly requests: number
  /**
   * The history's name for this loop, whose operations are sequential: the client id when the client keeps one
   * request in flight, else `c1.1` … `c1.K`, one per loop sharing the client (simulator option `inFlight`).
   * Optional: drivers with one loop per client need not provide it (the history then names the client id).
   */
  readonly process?: string
  /** Which run of this client id this is: 0 (the default) for the first, then 1, 2, … after each client restart. */
  readonly incarnation?: number
  /**
   * What the workload keeps for this client id across its restarts (a small journal on the client's own
   * disk, such as "this id holds the lock"). Empty for the first run; absent where clients never restart.
   */
  readonly journal?: Map<string, unknown>
  /** Virtual time now. */
  now(): number
  /** A strictly increasing event counter: orders records made at the same virtual time. */
  tick(): number
  /** Waits `ms` of virtual time. */
  sleep(ms: number): Promise<void>
  /**
   * Appends to the run's history; `request` names the request the operation sent (see {@link requestKey}), so that
   * the checks can find where the cluster executed it.
   */
  record(operation: Operation, request?: string): void
  /**
   * The request this client submitted last, as the checks name it (`c1#4`), or undefined if none since the last
   * call: call it right after `client.submit` (which numbers the request at once) and pass it to `record`.
   * Optional: drivers that do not place operations in the cluster's order need not provide it.
   */
  requestKey?(): string | undefined
  /** Records something only this workload understands (grants, releases). */
  note(event: WorkloadEvent): void
  /**
   * Tells the simulator whether this client process may be stopped now by a `client-restart` fault (it may,
   * until told otherwise). A stop waits until it may. A workload whose next run could not tell where it stands
   * (the mutex, while the lock's fate hangs on a request in flight) says no meanwhile. Optional: drivers
   * that never restart clients need not provide it. With several loops on one client, it stops once every loop
   * said it may.
   */
  restartable?(ok: boolean): void
}

/** A workload-specific event, ordered by `tick`. */
export interface WorkloadEvent {
  readonly kind: string
  readonly client: string
  readonly tick: number
  readonly time: number
}

/** What a workload's checker sees after a run. */
export interface WorkloadRecord {
  readonly history: readonly Operation[]
  readonly events: readonly WorkloadEvent[]
  /**
   * Where the cluster executed each operation's request (its position in the total order), if the driver knows:
   * a linearizability check that gives up tries that order as a witness. Optional.
   */
  readonly positionOf?: (operation: Operation) => number | undefined
}

/** A machine plus the clients that exercise it and the checks that judge the run. */
export interface Workload {
  readonly name: string
  readonly machine: StateMachine
  /**
   * Runs one client loop to completion. A client that keeps K requests in flight (simulator option `inFlight`)
   * runs K of these at once on its one `LockstepClient`.
   */
  runClient(ctx: WorkloadClient): Promise<void>
  /**
   * Set when each client of this workload must keep a single request in flight: why. The simulator then refuses
   * `inFlight` above 1 with this reason. Absent: any number of loops may share a client.
   */
  readonly singleRequestInFlight?: string
  /** Model-specific violations (linearizability, mutual exclusion); empty when all hold. */
  check(record: WorkloadRecord): string[]
}

/** A command generator for machines without a dedicated workload (custom machines, DSL specs). */
export type RandomCommand = (random: RandomSource, client: string) => unknown

/**
 * The seed mutex: acquire, hold a while, release; checks that no two clients ever hold the lock at once.
 *
 * The lock belongs to the client id, and the seed's mutex cannot tell anyone who holds it, nor check who
 * releases it. So a client process may stop only where its next run knows where the id stands: holding the
 * lock (the next run releases it first, as its journal says) or between a release's reply and the next
 * acquire. While an acquire or a release is in flight, or a queued acquire waits for its grant, it may not.
 * For the same reason each client keeps one request in flight (`singleRequestInFlight`).
 */
export const mutexWorkload: Workload = {
  name: 'mutex',
  machine: builtInMachines.mutex,
  singleRequestInFlight:
    'the lock belongs to the client id, not to one of its loops: loops sharing an id would share one lock, a release pipelined ahead of the next acquire could free the lock the id is about to be granted again, and the mutual-exclusion check could not tell which loop holds it; a mutex client keeps one request in flight',
  async runClient(ctx) {
    let issued = 0
    if (ctx.journal?.get('holding') === true) {
      // The previous run of this id stopped holding the lock: this run releases it on the id's behalf.
      ctx.restartable?.(false)
      await release(ctx)
      ctx.restartable?.(true)
      issued++
    }
    const requests = (ctx.incarnation ?? 0) === 0 ? Math.max(2, ctx.requests) : ctx.requests
    for (; issued + 2 <= requests; issued += 2) {
      ctx.restartable?.(false)
      const reply = await ctx.client.submit({ name: 'acquire' })
      if (!reply.ok) throw new Error(`acquire failed: ${reply.error.message}`)
      if (!reply.outputs.some((o) => o.value === 'OK')) await ctx.client.nextNotice((n) => n.value === 'OK')
      ctx.note({ kind: 'grant', client: ctx.id, tick: ctx.tick(), time: ctx.now() })
      ctx.journal?.set('holding', true)
      ctx.restartable?.(true)
      await ctx.sleep(ctx.random.int(0, 5))
      ctx.restartable?.(false)
      await release(ctx)
      ctx.restartable?.(true)
      await ctx.sleep(ctx.random.int(0, 3))
    }
  },
  check(record) {
    return checkMutualExclusion(record.events)
  },
}

/** A single register: random reads, writes and compare-and-sets; the history must be linearizable. */
export const registerWorkload: Workload = {
  name: 'register',
  machine: builtInMachines.register,
  async runClient(ctx) {
    for (let i = 0; i < ctx.requests; i++) {
      const roll = ctx.random.next()
      let input: Record<string, unknown>
      let command: unknown
      if (roll < 0.4) {
        input = { f: 'read' }
        command = { name: 'read' }
      } else if (roll < 0.75) {
        const value = ctx.random.int(0, 4)
        input = { f: 'write', value }
        command = { name: 'write', args: { value } }
      } else {
        const from = ctx.random.chance(0.2) ? null : ctx.random.int(0, 4)
        const to = ctx.random.int(0, 4)
        input = { f: 'cas', from, to }
        command = { name: 'cas', args: { from, to } }
      }
      await invoke(ctx, command, input)
      await ctx.sleep(ctx.random.int(0, 3))
    }
  },
  check(record) {
    return checkHistoryLinearizable(record.history, registerModel, { positionOf: record.positionOf })
  },
}

/** A key-value store over a few keys: gets, puts and appends of unique strings; the history must be linearizable. */
export const kvWorkload: Workload = {
  name: 'kv',
  machine: builtInMachines.kv,
  async runClient(ctx) {
    const keys = ['a', 'b', 'c']
    for (let i = 0; i < ctx.requests; i++) {
      const key = ctx.random.pick(keys)
      const roll = ctx.random.next()
      // Unique among every loop of every client (a loop's name is its client's id with one request in flight).
      const value = `${ctx.process ?? ctx.id}.${i}`
      const [f, input] = roll < 0.4 ? ['get', { f: 'get', key }] : roll < 0.7 ? ['put', { f: 'put', key, value }] : ['append', { f: 'append', key, value }]
      const command = f === 'get' ? { name: 'get', args: { key } } : { name: f, args: { key, value } }
      await invoke(ctx, command, input)
      await ctx.sleep(ctx.random.int(0, 3))
    }
  },
  check(record) {
    return checkHistoryLinearizable(record.history, kvModel, { positionOf: record.positionOf })
  },
}

/** A workload for any machine: random commands from `randomCommand`; only the generic checks apply. */
export function genericWorkload(machine: StateMachine, randomCommand: RandomCommand): Workload {
  return {
    name: machine.name,
    machine,
    async runClient(ctx) {
      for (let i = 0; i < ctx.requests; i++) {
        const reply = await ctx.client.submit(randomCommand(ctx.random, ctx.id))
        if (!reply.ok && reply.error.code === 'INVALID_COMMAND') {
          throw new Error(`the workload generated an invalid command: ${reply.error.message}`)
        }
        await ctx.sleep(ctx.random.int(0, 3))
      }
    },
    check: () => [],
  }
}

/** Releases the lock the client id holds (noted as released when the release is sent). */
async function release(ctx: WorkloadClient): Promise<void> {
  ctx.note({ kind: 'release', client: ctx.id, tick: ctx.tick(), time: ctx.now() })
  ctx.journal?.set('holding', false)
  const released = await ctx.client.submit({ name: 'release' })
  if (!released.ok) throw new Error(`release failed: ${released.error.message}`)
}

async function invoke(ctx: WorkloadClient, command: unknown, input: Record<string, unknown>): Promise<void> {
  const call = ctx.now()
  const submitted = ctx.client.submit(command)
  const request = ctx.requestKey?.()
  let reply
  try {
    reply = await submitted
  } catch (error) {
    // The client process stopped with the request in flight: nobody will know its outcome, and it may still
    // take effect at any time. The history records it as never returning.
    if (isLockstepError(error) && error.code === ErrorCodes.STOPPED) ctx.record({ client: ctx.process ?? ctx.id, input, output: null, call, return: null }, request)
    throw error
  }
  if (!reply.ok) throw new Error(`${JSON.stringify(command)} failed: ${reply.error.message}`)
  const output = reply.outputs[0]?.value ?? null
  ctx.record({ client: ctx.process ?? ctx.id, input, output, call, return: ctx.now() }, request)
}

/** The built-in workloads by machine name: one for every machine of @lockstep/machines' registry. */
export const workloads: Readonly<Record<string, Workload>> = {
  mutex: mutexWorkload,
  register: registerWorkload,
  kv: kvWorkload,
} satisfies Record<BuiltInMachineName, Workload>
