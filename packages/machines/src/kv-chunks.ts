import { ErrorCodes, LockstepError } from '@lockstep/interface'
import { SortedOrder, rememberSortedKeys } from './sorted-order'

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/**
 * A chunk closes once its JSON text reaches this many UTF-16 code units: at most three UTF-8 bytes each,
 * so a chunk stays under 1 MiB unless one entry alone is larger (it then takes a chunk of its own).
 */
const CHUNK_CHARS = 256 * 1024

/**
 * The chunks of a key-value map, in ascending key order, each a JSON array of `[key, value]` pairs:
 * `[["a","1"],["b","2"]]`. Equal maps give equal chunks.
 *
 * Taking it copies the map's keys and values into two arrays (references to immutable strings: O(keys),
 * not O(bytes)); the chunks are produced as they are iterated, from that copy, so the map may change in
 * the meantime. Each iteration starts over.
 */
export function mapChunks(data: Map<string, string>): Iterable<Uint8Array> {
  const keys = new Array<string>(data.size)
  const values = new Array<string>(data.size)
  let i = 0
  data.forEach((value, key) => {
    keys[i] = key
    values[i++] = value
  })
  return { [Symbol.iterator]: () => chunkPass(data, keys, values) }
}

function chunkPass(owner: object, keys: readonly string[], values: readonly string[]): Iterator<Uint8Array> {
  const order = new SortedOrder(owner, keys)
  let next = order.next()
  return {
    next(): IteratorResult<Uint8Array> {
      if (next < 0) return { done: true, value: undefined }
      const pairs: string[] = []
      let chars = 2
      while (next >= 0 && (pairs.length === 0 || chars < CHUNK_CHARS)) {
        const pair = JSON.stringify([keys[next], values[next]])
        pairs.push(pair)
        chars += pair.length + 1
        next = order.next()
      }
      return { done: false, value: encoder.encode(`[${pairs.join(',')}]`) }
    },
  }
}

/**
 * The map of {@link mapChunks}' chunks. Chunks that are not its output throw `STORAGE_CORRUPT` naming
 * the chunk and the entry (`details.path`: `/chunks/<chunk>/<entry>`).
 */
export function mapFromChunks(chunks: Iterable<Uint8Array>, machine: string): Map<string, string> {
  const reader = new MapChunkReader(machine)
  for (const chunk of chunks) reader.add(chunk)
  return reader.finish()
}

/** Builds the map of {@link mapChunks}' chunks one chunk at a time (see {@link mapFromChunks}). */
export class MapChunkReader {
  private readonly machine: string
  private readonly data = new Map<string, string>()
  private readonly keys: string[] = []
  private chunkIndex = 0

  constructor(machine: string) {
    this.machine = machine
  }

  add(chunk: Uint8Array): void {
    let pairs: unknown
    try {
      pairs = JSON.parse(decoder.decode(chunk))
    } catch (error) {
      this.fail(undefined, `is not JSON (${(error as Error).message})`)
    }
    if (!Array.isArray(pairs)) this.fail(undefined, 'is not a JSON array of [key, value] pairs')
    const list = pairs as unknown[]
    for (let entry = 0; entry < list.length; entry++) {
      const pair = list[entry]
      if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') this.fail(entry, 'is not a [key, value] pair of strings')
      const [key, value] = pair as [string, string]
      if (this.data.has(key)) this.fail(entry, `repeats the key ${JSON.stringify(key.slice(0, 100))}`)
      this.data.set(key, value)
      this.keys.push(key)
    }
    this.chunkIndex++
  }

  finish(): Map<string, string> {
    // Chunks come in key order: the map's next snapshot starts from a known order.
    rememberSortedKeys(this.data, this.keys)
    return this.data
  }

  private fail(entry: number | undefined, what: string): never {
    const where = entry === undefined ? `chunk ${this.chunkIndex}` : `chunk ${this.chunkIndex}, entry ${entry}`
    throw new LockstepError(ErrorCodes.STORAGE_CORRUPT, `${this.machine}.restoreChunks: ${where} ${what}; restoreChunks reads only what snapshotChunks wrote`, {
      path: entry === undefined ? `/chunks/${this.chunkIndex}` : `/chunks/${this.chunkIndex}/${entry}`,
    })
  }
}

/** Remembers that a map built from sorted entries (an older snapshot's) holds its keys in order. */
export function rememberIfSorted(data: Map<string, string>): void {
  rememberSortedKeys(data, [...data.keys()])
}
