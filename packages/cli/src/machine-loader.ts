import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { ErrorCodes, LockstepError, type StateMachine } from '@lockstep/interface'
import { builtInMachineNames, isBuiltInMachineName } from '@lockstep/machines'
import { genericWorkload, workloads, type RandomCommand, type Workload } from '@lockstep/testkit'

/**
 * Resolves `--machine`: a built-in name (@lockstep/machines' registry), the path
 * of a JavaScript module exporting `machine` (a StateMachine) and
 * `randomCommand(random, client)` (commands for the simulator), or the path of a
 * DSL spec (.sm: its commands with arguments drawn at random). A simulator
 * workload (`simulate({ workload })` of @lockstep/testkit).
 */
export async function loadWorkload(spec: string): Promise<Workload> {
  // The testkit has a workload for every built-in machine.
  if (isBuiltInMachineName(spec)) return workloads[spec]!
  if (spec.endsWith('.sm')) return loadSpecWorkload(spec)
  let module: Record<string, unknown>
  try {
    module = (await import(pathToFileURL(resolve(spec)).href)) as Record<string, unknown>
  } catch (cause) {
    throw new LockstepError(ErrorCodes.INVALID_CONFIG, `--machine ${spec}: not a built-in machine (${builtInMachineNames.join(', ')}) and the module could not be loaded: ${(cause as Error).message}`)
  }
  const machine = (module.machine ?? module.default) as StateMachine | undefined
  if (!machine || typeof machine.apply !== 'function' || typeof machine.init !== 'function') {
    throw new LockstepError(ErrorCodes.INVALID_CONFIG, `--machine ${spec}: the module must export 'machine' (or a default export) implementing StateMachine`)
  }
  const randomCommand = module.randomCommand as RandomCommand | undefined
  if (typeof randomCommand !== 'function') {
    throw new LockstepError(ErrorCodes.INVALID_CONFIG, `--machine ${spec}: the module must export 'randomCommand(random, client)' so the simulator can generate commands`)
  }
  return genericWorkload(machine, randomCommand)
}

/** The part of a compiled DSL program the simulator needs to make commands. */
interface SpecParam {
  readonly name: string
  readonly type: { readonly kind: string }
}

/**
 * A DSL spec as a simulator workload: commands drawn uniformly, arguments from
 * small domains (ints 0–3, strings a–c, booleans, client ids c1–c4, empty
 * collections), so clients collide on the same values.
 */
async function loadSpecWorkload(spec: string): Promise<Workload> {
  return (await specWorkloads(spec, [], 1)).next().workload
}

/** A fresh simulator workload for each run of a DSL spec, with the invariant violations its replicas met. */
export interface SpecWorkloads {
  next(): { workload: Workload; violations: readonly string[] }
}

/** The most invariant violations one run reports (the first ones; one is enough to fail the seed). */
const MAX_REPORTED_VIOLATIONS = 5

/**
 * `lockstep sim --machine SPEC.sm --invariant EXPR`: the spec as a simulator workload whose machine
 * checks every invariant (a model-checker property: quantifiers over the clients c1…cN and client
 * literals allowed, primed names read the state after the command) on every replica after every
 * command it applies (every delivery). A command that aborts changes nothing and is not checked.
 * Throws `INVALID_CONFIG` for a spec or an invariant with errors.
 */
export async function specWorkloads(spec: string, invariants: readonly string[], clients: number): Promise<SpecWorkloads> {
  let source: Uint8Array
  try {
    // Bytes: the compiler reports invalid UTF-8 where it is.
    source = await readFile(resolve(spec))
  } catch (cause) {
    throw new LockstepError(ErrorCodes.INVALID_CONFIG, `--machine ${spec}: cannot read the DSL spec: ${(cause as Error).message}`)
  }
  const dsl = await import('@lockstep/dsl')
  let compiled
  try {
    compiled = dsl.compileOrThrow(source, { file: spec })
  } catch (error) {
    throw new LockstepError(ErrorCodes.INVALID_CONFIG, `--machine ${spec}: ${(error as Error).message}`)
  }
  const commands = compiled.program.commands.map((c) => ({ name: c.name, params: c.params as readonly SpecParam[] }))
  const pick = <T>(random: { next(): number }, items: readonly T[]): T => items[Math.floor(random.next() * items.length)]!
  const randomCommand: RandomCommand = (random, client) => {
    const command = pick(random, commands)
    if (command.params.length === 0) return { name: command.name }
    const args: Record<string, unknown> = {}
    for (const param of command.params) {
      switch (param.type.kind) {
        case 'int': args[param.name] = Math.floor(random.next() * 4); break
        case 'string': args[param.name] = pick(random, ['a', 'b', 'c']); break
        case 'bool': args[param.name] = random.next() < 0.5; break
        case 'client_id': args[param.name] = random.next() < 0.5 ? client : pick(random, ['c1', 'c2', 'c3', 'c4']); break
        case 'map': args[param.name] = {}; break
        default: args[param.name] = []
      }
    }
    return { name: command.name, args }
  }
  const clientIds = Array.from({ length: clients }, (_, i) => `c${i + 1}`)
  const properties = invariants.map((text, i) => {
    const result = dsl.compileProperty(compiled.program, text, { clients: clientIds, file: `--invariant ${i + 1}` })
    if (!result.property) throw new LockstepError(ErrorCodes.INVALID_CONFIG, `--invariant '${text}' is not a valid property:\n${dsl.formatDiagnostics(result.diagnostics, text)}`)
    return result.property
  })
  const base = compiled.machine
  return {
    next() {
      if (properties.length === 0) return { workload: genericWorkload(base as unknown as StateMachine, randomCommand), violations: [] }
      const violations: string[] = []
      // Every replica executes a command the same way, so each finds the same violation: it is reported once,
      // with how many replicas saw it (a replica that executes the position again, after a restart, counts again).
      const reported = new Map<string, { readonly index: number; replicas: number }>()
      const machine: typeof base = {
        ...base,
        apply(state, command, ctx) {
          const before = state.slice()
          const outputs = base.apply(state, command, ctx)
          for (const property of properties) {
            let value: unknown
            try {
              value = property.evaluate(property.kind === 'transition' ? [...before, ...state] : state)
            } catch (error) {
              value = (error as Error).message
            }
            if (value === true) continue
            const why = value === false ? 'does not hold' : value === null ? 'is Φ' : `cannot be evaluated: ${String(value)}`
            const lead = `invariant '${property.text}' ${why} after ${ctx.client} ${command.name} (position ${ctx.position}) on `
            const tail = `; state ${JSON.stringify(base.toJSON(state))}`
            const seen = reported.get(lead + tail)
            if (seen) violations[seen.index] = `${lead}${++seen.replicas} replicas${tail}`
            else if (reported.size < MAX_REPORTED_VIOLATIONS) {
              reported.set(lead + tail, { index: violations.length, replicas: 1 })
              violations.push(`${lead}a replica${tail}`)
            }
          }
          return outputs
        },
      }
      return { workload: genericWorkload(machine as unknown as StateMachine, randomCommand), violations }
    },
  }
}
