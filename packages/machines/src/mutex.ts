import type { ClientId, Output, StateMachine } from '@lockstep/interface'
import { decodeJson, encodeJson } from './codec'
import { commandSchema, type Command } from './command'

/** The seed's mutex state: the holder (`Φ` is null) and the queue of waiting clients. */
export interface MutexState {
  user: ClientId | null
  waiting: ClientId[]
}

export type MutexCommand = Command<'acquire' | 'release', Record<string, never>>

/**
 * The seed's mutex, transcribed exactly (guarded commands, first true arm runs):
 *
 *     acquire: if user = Φ -> send OK to client; user := client
 *              if user ≠ Φ -> waiting := waiting ● client
 *     release: if waiting = Φ -> user := Φ
 *              if waiting ≠ Φ -> send OK to head(waiting); user := head(waiting); waiting := tail(waiting)
 *
 * Like the seed, release does not check who releases and acquire lets the holder queue behind itself.
 */
export const mutex: StateMachine<MutexState, MutexCommand, 'OK'> = {
  name: 'mutex',
  init: () => ({ user: null, waiting: [] }),
  apply(state, command, ctx): Output<'OK'>[] {
    if (command.name === 'acquire') {
      if (state.user === null) {
        state.user = ctx.client
        return [{ to: ctx.client, value: 'OK' }]
      }
      state.waiting.push(ctx.client)
      return []
    }
    if (state.waiting.length === 0) {
      state.user = null
      return []
    }
    const next = state.waiting.shift()!
    state.user = next
    return [{ to: next, value: 'OK' }]
  },
  snapshot: (state) => encodeJson(state),
  restore: (bytes) => decodeJson<MutexState>(bytes),
  toJSON: (state) => ({ user: state.user, waiting: [...state.waiting] }),
  commandSchema: commandSchema({ acquire: {}, release: {} }),
}
