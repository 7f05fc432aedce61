import type { LockstepClient } from '@lockstep/client'
import type { RandomSource, StateMachine } from '@lockstep/interface'
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
  /** How many requests this client should issue. */
  readonly requests: number
  /** Virtual time now. */
  now(): number
  /** A strictly increasing event counter: orders records made at the same virtual time. */
  tick(): number
  /** Waits `ms` of virtual time. */
  sleep(ms: number): Promise<void>
  /** Appends to the run's history. */
  record(operation: Operation): void
  /** Records something only this workload understands (grants, releases). */
  note(event: WorkloadEvent): void
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
}

/** A machine plus the clients that exercise it and the checks that judge the run. */
export interface Workload {
  readonly name: string
  readonly machine: StateMachine
  /** Runs one client to completion. */
  runClient(ctx: WorkloadClient): Promise<void>
  /** Model-specific violations (linearizability, mutual exclusion); empty when all hold. */
  check(record: WorkloadRecord): string[]
}

/** A command generator for machines without a dedicated workload (custom machines, DSL specs). */
export type RandomCommand = (random: RandomSource, client: string) => unknown

/** The seed mutex: acquire, hold a while, release; checks that no two clients ever hold the lock at once. */
export const mutexWorkload: Workload = {
  name: 'mutex',
  machine: builtInMachines.mutex,
  async runClient(ctx) {
    for (let issued = 0; issued + 2 <= Math.max(2, ctx.requests); issued += 2) {
      const reply = await ctx.client.submit({ name: 'acquire' })
      if (!reply.ok) throw new Error(`acquire failed: ${reply.error.message}`)
      if (!reply.outputs.some((o) => o.value === 'OK')) await ctx.client.nextNotice((n) => n.value === 'OK')
      ctx.note({ kind: 'grant', client: ctx.id, tick: ctx.tick(), time: ctx.now() })
      await ctx.sleep(ctx.random.int(0, 5))
      ctx.note({ kind: 'release', client: ctx.id, tick: ctx.tick(), time: ctx.now() })
      const released = await ctx.client.submit({ name: 'release' })
      if (!released.ok) throw new Error(`release failed: ${released.error.message}`)
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
    return checkHistoryLinearizable(record.history, registerModel)
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
      const value = `${ctx.id}.${i}`
      const [f, input] = roll < 0.4 ? ['get', { f: 'get', key }] : roll < 0.7 ? ['put', { f: 'put', key, value }] : ['append', { f: 'append', key, value }]
      const command = f === 'get' ? { name: 'get', args: { key } } : { name: f, args: { key, value } }
      await invoke(ctx, command, input)
      await ctx.sleep(ctx.random.int(0, 3))
    }
  },
  check(record) {
    return checkHistoryLinearizable(record.history, kvModel)
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

async function invoke(ctx: WorkloadClient, command: unknown, input: Record<string, unknown>): Promise<void> {
  const call = ctx.now()
  const reply = await ctx.client.submit(command)
  if (!reply.ok) throw new Error(`${JSON.stringify(command)} failed: ${reply.error.message}`)
  const output = reply.outputs[0]?.value ?? null
  ctx.record({ client: ctx.id, input, output, call, return: ctx.now() })
}

/** The built-in workloads by machine name: one for every machine of @lockstep/machines' registry. */
export const workloads: Readonly<Record<string, Workload>> = {
  mutex: mutexWorkload,
  register: registerWorkload,
  kv: kvWorkload,
} satisfies Record<BuiltInMachineName, Workload>
