import { ErrorCodes, LockstepError, type Output, type StateMachine } from '@lockstep/interface'
import { decodeJson, encodeJson } from './codec'
import { commandSchema, type Command } from './command'
import { MapChunkReader, mapChunks, mapFromChunks, rememberIfSorted } from './kv-chunks'

/** A map from string keys to string values; a missing key reads as "". */
export interface KvState {
  data: Map<string, string>
}

export type KvCommand =
  | Command<'get', { key: string }>
  | Command<'put', { key: string; value: string }>
  | Command<'append', { key: string; value: string }>

export type KvOutput = { value: string } | Record<string, never>

/**
 * A key-value store: `get(key)` → `{value}`, `put(key, value)` → `{}`,
 * `append(key, value)` → `{}` (appends the string). The outputs match the `kv`
 * model of `lockstep lincheck`.
 *
 * Its state can grow large, so it has `snapshotChunks`/`restoreChunks`: chunks
 * of at most about 256 KiB of `[key, value]` pairs in key order, captured in
 * O(keys) and produced lazily (replicas use them for state transfer and disk
 * snapshots). `snapshot` still writes the whole map as one JSON array.
 */
export const kv: StateMachine<KvState, KvCommand, KvOutput> = {
  name: 'kv',
  init: () => ({ data: new Map() }),
  apply(state, command, ctx): Output<KvOutput>[] {
    const { key } = command.args as { key: string }
    switch (command.name) {
      case 'get':
        return [{ to: ctx.client, value: { value: state.data.get(key) ?? '' } }]
      case 'put':
        state.data.set(key, command.args!.value)
        return [{ to: ctx.client, value: {} }]
      case 'append':
        state.data.set(key, (state.data.get(key) ?? '') + command.args!.value)
        return [{ to: ctx.client, value: {} }]
      default:
        throw new LockstepError(ErrorCodes.COMMAND_FAILED, `kv has no command '${(command as Command).name}'`)
    }
  },
  snapshot: (state) => encodeJson([...state.data.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
  restore: (bytes) => {
    const data = new Map(decodeJson<[string, string][]>(bytes))
    rememberIfSorted(data)
    return { data }
  },
  snapshotChunks: (state) => mapChunks(state.data),
  restoreChunks: (chunks) => ({ data: mapFromChunks(chunks, 'kv') }),
  chunkRestorer() {
    const reader = new MapChunkReader('kv')
    return { add: (chunk: Uint8Array) => reader.add(chunk), finish: () => ({ data: reader.finish() }) }
  },
  toJSON: (state) => Object.fromEntries([...state.data.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
  commandSchema: commandSchema({
    get: { properties: { key: { type: 'string' } }, required: ['key'] },
    put: { properties: { key: { type: 'string' }, value: { type: 'string' } }, required: ['key', 'value'] },
    append: { properties: { key: { type: 'string' }, value: { type: 'string' } }, required: ['key', 'value'] },
  }),
}
