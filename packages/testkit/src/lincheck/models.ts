import { LockstepError } from '@lockstep/interface'
import type { BuiltInMachineName } from '@lockstep/machines'
import { kvModel } from './kv-model'
import type { Model } from './model'
import { registerModel } from './register-model'

/** The built-in models by name: `register` and `kv`, named after the built-in machines they specify. */
export const models: Readonly<Record<string, Model>> = Object.freeze({
  register: registerModel,
  kv: kvModel,
} satisfies Partial<Record<BuiltInMachineName, Model>>)

/** The built-in model called `name`; throws `LockstepError` `INVALID_CONFIG` listing the known names otherwise. */
export function modelByName(name: string): Model {
  if (Object.prototype.hasOwnProperty.call(models, name)) return models[name]!
  throw new LockstepError(
    'INVALID_CONFIG',
    `unknown linearizability model ${JSON.stringify(name)}; the built-in models are ${Object.keys(models).join(', ')} (or pass your own Model object)`,
    { path: 'model', model: name },
  )
}
