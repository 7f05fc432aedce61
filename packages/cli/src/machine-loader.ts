import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { ErrorCodes, LockstepError, type StateMachine } from '@lockstep/interface'
import { genericWorkload, workloads, type RandomCommand, type Workload } from '@lockstep/testkit'

/** The built-in machine names. */
export const builtInMachines = Object.keys(workloads)

/**
 * Resolves `--machine`: a built-in name (`mutex`, `register`, `kv`) or the path
 * of a JavaScript module exporting `machine` (a StateMachine) and
 * `randomCommand(random, client)` (commands for the simulator).
 */
export async function loadWorkload(spec: string): Promise<Workload> {
  const builtIn = workloads[spec]
  if (builtIn) return builtIn
  if (spec.endsWith('.sm')) {
    throw new LockstepError(ErrorCodes.UNSUPPORTED, `--machine ${spec}: DSL specs are loaded once @lockstep/dsl is wired into the CLI; use a built-in machine (${builtInMachines.join(', ')}) or a JavaScript module`)
  }
  let module: Record<string, unknown>
  try {
    module = (await import(pathToFileURL(resolve(spec)).href)) as Record<string, unknown>
  } catch (cause) {
    throw new LockstepError(ErrorCodes.INVALID_CONFIG, `--machine ${spec}: not a built-in machine (${builtInMachines.join(', ')}) and the module could not be loaded: ${(cause as Error).message}`)
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
