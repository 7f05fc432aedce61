import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { ErrorCodes, LockstepError, type StateMachine } from '@lockstep/interface'
import { builtInMachineNames, isBuiltInMachineName } from '@lockstep/machines'
import { genericWorkload, workloads, type RandomCommand, type Workload } from '@lockstep/testkit'

/**
 * Resolves `--machine`: a built-in name (@lockstep/machines' registry) or the path
 * of a JavaScript module exporting `machine` (a StateMachine) and
 * `randomCommand(random, client)` (commands for the simulator).
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
  return genericWorkload(compiled.machine as unknown as StateMachine, randomCommand)
}
