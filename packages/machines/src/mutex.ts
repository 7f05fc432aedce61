import type { ClientId, JsonValue, Output, StateMachine } from '@lockstep/interface'
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
  summary: mutexSummary,
  commandSchema: commandSchema({ acquire: {}, release: {} }),
}

/** Client ids shown in a summary: the queue's first ones. */
const SUMMARY_QUEUE_ITEMS = 20
/** Characters shown of a client id in a summary (a longer one is cut and ends with '…'). */
const SUMMARY_ID_CHARS = 200
/** The most characters of a summary's JSON text. */
const SUMMARY_JSON_CHARS = 4096

const cut = (id: ClientId): string => (id.length > SUMMARY_ID_CHARS ? id.slice(0, SUMMARY_ID_CHARS) + '…' : id)

/**
 * The mutex for operators (`GET /status`): the holder (`user`, null when free) and the queue (`waiting`: its
 * length and its first 20 clients, in grant order), the shape and bounds of the seed mutex compiled from the
 * DSL. Within 4096 characters of JSON: past that the queue shows only its count.
 */
function mutexSummary(state: MutexState): JsonValue {
  const user = state.user === null ? null : cut(state.user)
  const summary = { user, waiting: { count: state.waiting.length, items: state.waiting.slice(0, SUMMARY_QUEUE_ITEMS).map(cut) } }
  return JSON.stringify(summary).length <= SUMMARY_JSON_CHARS ? summary : { user, waiting: { count: state.waiting.length, items: [] } }
}
