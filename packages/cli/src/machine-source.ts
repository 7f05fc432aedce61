import { isAbsolute, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { ErrorCodes, LockstepError, isLockstepError, type StateMachine } from '@lockstep/interface'
import { builtInMachine, builtInMachineNames, isBuiltInMachineName } from '@lockstep/machines'
import type { Io } from './io'

/** The part of @lockstep/dsl used here, typed locally so the CLI builds whatever state the DSL's declarations are in. */
interface DslModule {
  compileOrThrow(source: string | Uint8Array, options: { file: string }): { machine: unknown }
}
const DSL_PACKAGE = '@lockstep/dsl'

/** The file endings a machine path may have: a JavaScript module or a DSL spec. */
const MACHINE_FILE = /\.(?:m?js|cjs|sm)$/

/**
 * What is wrong with a machine setting, before anything is loaded: undefined
 * for a built-in name (see @lockstep/machines) or the path of a JavaScript
 * module (.js, .mjs, .cjs) or DSL spec (.sm), else the rest of a sentence
 * whose subject (the setting) the caller writes first.
 */
export function machineSpecProblem(spec: string): string | undefined {
  if (isBuiltInMachineName(spec) || MACHINE_FILE.test(spec)) return undefined
  return `is neither a built-in machine (${builtInMachineNames.join(', ')}) nor the path of a JavaScript module (.js, .mjs, .cjs) or DSL spec (.sm)`
}

/**
 * Resolves a replica's machine: a built-in name (`builtInMachineNames` of @lockstep/machines),
 * the path of a DSL spec (`.sm`, compiled with @lockstep/dsl), or the path of
 * a JavaScript module exporting `machine` (or a default export). Relative
 * paths are resolved against `baseDir`. `where` names the setting in errors.
 */
export async function loadMachine(spec: string, baseDir: string, io: Io, where = '/machine'): Promise<StateMachine> {
  if (isBuiltInMachineName(spec)) return builtInMachine(spec)
  const path = isAbsolute(spec) ? spec : resolve(baseDir, spec)
  if (spec.endsWith('.sm')) return compileSpec(path, io, where)
  let module: Record<string, unknown>
  try {
    module = (await import(pathToFileURL(path).href)) as Record<string, unknown>
  } catch (cause) {
    throw new LockstepError(ErrorCodes.INVALID_CONFIG, `${where}: the module ${path} could not be loaded: ${(cause as Error).message}`, { path: where })
  }
  const machine = (module.machine ?? module.default) as StateMachine | undefined
  if (!machine || typeof machine.apply !== 'function' || typeof machine.init !== 'function' || typeof machine.name !== 'string') {
    throw new LockstepError(ErrorCodes.INVALID_CONFIG, `${where}: ${path} must export 'machine' (or a default export) implementing StateMachine (name, init, apply, snapshot, restore)`, { path: where })
  }
  return machine
}

async function compileSpec(path: string, io: Io, where: string): Promise<StateMachine> {
  let source: string | Uint8Array
  try {
    // As bytes when the I/O can: the compiler then reports invalid UTF-8 instead of reading replacement characters.
    source = io.readFileBytes ? await io.readFileBytes(path) : await io.readFile(path)
  } catch (cause) {
    throw new LockstepError(ErrorCodes.INVALID_CONFIG, `${where}: cannot read the DSL spec ${path}: ${(cause as Error).message}`, { path: where })
  }
  let dsl: DslModule
  try {
    dsl = (await import(DSL_PACKAGE)) as DslModule
  } catch (cause) {
    throw new LockstepError(ErrorCodes.UNSUPPORTED, `${where}: DSL specs need @lockstep/dsl, which could not be loaded (${(cause as Error).message}); use a built-in machine or a JavaScript module`, { path: where })
  }
  try {
    return dsl.compileOrThrow(source, { file: path }).machine as StateMachine
  } catch (error) {
    if (isLockstepError(error)) throw new LockstepError(ErrorCodes.INVALID_CONFIG, `${where}: ${error.message}`, { path: where }, { cause: error })
    throw error
  }
}
