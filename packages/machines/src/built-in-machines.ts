import { ErrorCodes, LockstepError, type StateMachine } from '@lockstep/interface'
import { kv } from './kv'
import { mutex } from './mutex'
import { register } from './register'

/**
 * The machines every Lockstep tool knows by name: a replica's `machine`
 * setting, `lockstep sim --machine`, `lockstep cluster up --machine`. This is
 * the one list of them; add a machine here and every tool offers it.
 */
export const builtInMachines = Object.freeze({ mutex, register, kv })

/** The name of a built-in machine: `mutex`, `register` or `kv`. */
export type BuiltInMachineName = keyof typeof builtInMachines

/** The names of the built-in machines, in the order tools list them. */
export const builtInMachineNames: readonly BuiltInMachineName[] = Object.freeze(Object.keys(builtInMachines) as BuiltInMachineName[])

/** True when `name` names a built-in machine. */
export function isBuiltInMachineName(name: string): name is BuiltInMachineName {
  return Object.prototype.hasOwnProperty.call(builtInMachines, name)
}

/**
 * The built-in machine called `name`. Throws `LockstepError` `INVALID_CONFIG`
 * naming the built-in machines when there is none of that name.
 */
export function builtInMachine(name: string): StateMachine {
  if (isBuiltInMachineName(name)) return builtInMachines[name]
  throw new LockstepError(
    ErrorCodes.INVALID_CONFIG,
    `unknown machine ${JSON.stringify(name)}; the built-in machines are ${builtInMachineNames.join(', ')} (or pass your own StateMachine)`,
    { machine: name },
  )
}
