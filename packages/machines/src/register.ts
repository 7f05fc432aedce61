import { ErrorCodes, LockstepError, type Output, type StateMachine } from '@lockstep/interface'
import { canonicalJson, decodeJson, encodeJson } from './codec'
import { commandSchema, type Command } from './command'

/** One register holding any JSON value, starting at null. */
export interface RegisterState {
  value: unknown
}

export type RegisterCommand =
  | Command<'read', Record<string, never>>
  | Command<'write', { value: unknown }>
  | Command<'cas', { from: unknown; to: unknown }>

export type RegisterOutput = { value: unknown } | Record<string, never> | { ok: boolean }

/**
 * A linearizable register: `read` → `{value}`, `write(value)` → `{}`,
 * `cas(from, to)` → `{ok}` (compare-and-set by JSON equality). The outputs match
 * the `register` model of `lockstep lincheck`.
 */
export const register: StateMachine<RegisterState, RegisterCommand, RegisterOutput> = {
  name: 'register',
  init: () => ({ value: null }),
  apply(state, command, ctx): Output<RegisterOutput>[] {
    switch (command.name) {
      case 'read':
        return [{ to: ctx.client, value: { value: state.value } }]
      case 'write':
        state.value = command.args!.value ?? null
        return [{ to: ctx.client, value: {} }]
      case 'cas': {
        const ok = canonicalJson(state.value) === canonicalJson(command.args!.from ?? null)
        if (ok) state.value = command.args!.to ?? null
        return [{ to: ctx.client, value: { ok } }]
      }
      default:
        throw new LockstepError(ErrorCodes.COMMAND_FAILED, `register has no command '${(command as Command).name}'`)
    }
  },
  snapshot: (state) => encodeJson(state),
  restore: (bytes) => decodeJson<RegisterState>(bytes),
  toJSON: (state) => ({ value: state.value }),
  commandSchema: commandSchema({
    read: {},
    write: { properties: { value: {} }, required: ['value'] },
    cas: { properties: { from: {}, to: {} }, required: ['from', 'to'] },
  }),
}
