import { ErrorCodes, LockstepError, isLockstepError, type StateMachine } from '@lockstep/interface'
import { Fnv1a64, type OrderDigestVersion } from './digest'

/**
 * A machine's state in an image: its `snapshot` bytes, or, for a machine with `snapshotChunks` and
 * `restoreChunks`, its chunks.
 */
export type MachineImage = Uint8Array | { readonly chunks: Iterable<Uint8Array> }

/** The replicated state at a position, as read back from an image (a snapshot on disk, a transfer). */
export interface StateImage {
  readonly position: number
  /** The machine's state (chunks read back from bytes are iterated once). */
  readonly machine: MachineImage
  readonly sessions: unknown
  /** The digest of the order up to `position` (see `ReplicatedState.orderDigest`); absent in images of earlier versions. */
  readonly orderDigest?: string
  /** How the order digest is extended after `position` (see `OrderDigestVersion`); absent (1) in images of earlier versions. */
  readonly orderDigestVersion?: OrderDigestVersion
  /** Agreed time at `position` (see `ApplyContext.time`); absent (0) in images of earlier versions. */
  readonly time?: number
  /** The machine's state already rebuilt from `machine`'s chunks as they arrived (`chunkRestorer`): taken as it is. */
  readonly restored?: { readonly state: unknown }
}

/**
 * The replicated state captured at a position: cheap to take (a machine with `snapshotChunks` is captured
 * in O(entries)), its bytes produced later, on demand, any number of times, while the replica goes on
 * executing. State transfer serves it; the host writes it to disk.
 */
export interface LazyImage extends StateImage {
  readonly orderDigest: string
  /**
   * The session table as plain data. Its replies and notices are never changed once recorded, so it stays
   * the table at `position`.
   */
  readonly sessions: unknown
  /** The machine's `snapshot` bytes, or its chunks, which can be iterated again and again. */
  readonly machine: MachineImage
}

/** Throws `INVALID_CONFIG` for a machine with only one of `snapshotChunks` and `restoreChunks`, or `chunkRestorer` without them. */
export function checkChunkMethods(machine: StateMachine): void {
  if (machine.chunkRestorer && !machine.snapshotChunks) {
    throw new LockstepError(ErrorCodes.INVALID_CONFIG, `machine '${machine.name}' has chunkRestorer but no snapshotChunks: it rebuilds the chunks snapshotChunks writes`)
  }
  if ((machine.snapshotChunks === undefined) === (machine.restoreChunks === undefined)) return
  const has = machine.snapshotChunks ? 'snapshotChunks' : 'restoreChunks'
  const lacks = machine.snapshotChunks ? 'restoreChunks' : 'snapshotChunks'
  throw new LockstepError(ErrorCodes.INVALID_CONFIG, `machine '${machine.name}' has ${has} but no ${lacks}: give it both, or neither (snapshot and restore are used then)`)
}

/** The machine's state now, for a lazy image: its chunks (captured, produced later) when it has them, else its snapshot. */
export function captureMachine<S>(machine: StateMachine<S>, state: S): MachineImage {
  const chunked = machine.snapshotChunks !== undefined && machine.restoreChunks !== undefined
  try {
    return chunked ? { chunks: namedFailures(machine, replayable(machine.snapshotChunks!(state))) } : machine.snapshot(state)
  } catch (cause) {
    throw machineFailed(machine, chunked ? 'snapshotChunks' : 'snapshot', cause)
  }
}

/**
 * A machine's method threw on a state its own `apply` made (a user's bug: a value its snapshot cannot write). Not a
 * bad message from a peer: `INTERNAL`, so that the replica stops (see `ReplicaHost`) instead of going on from an
 * event it handled halfway. The message names the machine and the method, and keeps the machine's own words.
 */
export function machineFailed(machine: StateMachine, method: keyof typeof MACHINE_METHOD_HINTS, cause: unknown): LockstepError {
  const said = cause instanceof Error ? cause.message : String(cause)
  return new LockstepError(ErrorCodes.INTERNAL, `machine '${machine.name}' failed in ${method}: ${said}${MACHINE_METHOD_HINTS[method]}`, undefined, { cause })
}

/** What a machine's method owes, said after its failure. */
const MACHINE_METHOD_HINTS = {
  init: '',
  snapshot: ' (it must take every state its apply makes)',
  snapshotChunks: ' (it must take every state its apply makes)',
  restore: ' (it must read every image its snapshot writes)',
  restoreChunks: ' (it must read every image its snapshotChunks writes)',
} as const

/** The machine's state from an image: `restore` for bytes, `restoreChunks` for chunks. */
export function restoreMachine<S>(machine: StateMachine<S>, image: MachineImage): S {
  if (!(image instanceof Uint8Array) && !machine.restoreChunks) {
    throw new LockstepError(ErrorCodes.UNSUPPORTED, `machine '${machine.name}' cannot read this image: it holds the chunks of a machine's snapshotChunks, and '${machine.name}' has no restoreChunks`)
  }
  try {
    return image instanceof Uint8Array ? machine.restore(image) : machine.restoreChunks!(image.chunks)
  } catch (cause) {
    // A LockstepError says what is wrong with the image (chunks read lazily from a damaged snapshot: STORAGE_CORRUPT).
    if (isLockstepError(cause)) throw cause
    throw machineFailed(machine, image instanceof Uint8Array ? 'restore' : 'restoreChunks', cause)
  }
}

/**
 * Digest of a machine's state: of its `snapshot` bytes, or of its chunks, each after its 4-byte length (so
 * the boundaries count too), hashed one at a time.
 */
export function machineDigest<S>(machine: StateMachine<S>, state: S): string {
  const hasher = new Fnv1a64()
  for (const piece of machinePieces(captureMachine(machine, state))) hasher.update(piece)
  return hasher.digest()
}

/**
 * A machine's state as it goes into an image (and what {@link machineDigest} hashes), a piece at a time: the
 * snapshot, or each chunk after its 4-byte length.
 */
export function* machinePieces(image: MachineImage): Generator<Uint8Array, void, undefined> {
  if (image instanceof Uint8Array) {
    yield image
    return
  }
  for (const chunk of image.chunks) {
    yield chunkLength(chunk)
    yield chunk
  }
}

/**
 * The digest of `pieces` (as {@link machineDigest}), hashed `bytesPerTurn` at a time with `nextTurn()`
 * awaited in between, so that hashing a large state never stops a replica for long.
 */
export async function digestInTurns(pieces: Iterable<Uint8Array>, nextTurn: () => Promise<void>, bytesPerTurn = 1024 * 1024): Promise<string> {
  const hasher = new Fnv1a64()
  let thisTurn = 0
  for (const piece of pieces) {
    for (let at = 0; at < piece.length; at += bytesPerTurn) {
      const slice = piece.subarray(at, at + bytesPerTurn)
      hasher.update(slice)
      thisTurn += slice.length
      if (thisTurn >= bytesPerTurn) {
        thisTurn = 0
        await nextTurn()
      }
    }
  }
  return hasher.digest()
}

/** A chunk's length as 4 big-endian bytes: how chunks are framed in images. */
export function chunkLength(chunk: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(4)
  new DataView(bytes.buffer).setUint32(0, chunk.length)
  return bytes
}

/**
 * The chunks of `snapshotChunks`, made as they are read (for a digest, a snapshot on disk, a state transfer): an
 * error while one is made is the machine's, said as {@link machineFailed} says it, wherever the reading happens.
 */
function namedFailures(machine: StateMachine, chunks: Iterable<Uint8Array>): Iterable<Uint8Array> {
  return {
    [Symbol.iterator](): Iterator<Uint8Array> {
      let inner: Iterator<Uint8Array>
      try {
        inner = chunks[Symbol.iterator]()
      } catch (cause) {
        throw machineFailed(machine, 'snapshotChunks', cause)
      }
      return {
        next(): IteratorResult<Uint8Array> {
          try {
            return inner.next()
          } catch (cause) {
            throw machineFailed(machine, 'snapshotChunks', cause)
          }
        },
      }
    },
  }
}

/**
 * Chunks that can be iterated again. A machine should return such an iterable; one that returns a
 * one-shot iterator (a generator object) gets its chunks kept as they are produced, to be replayed.
 */
function replayable(chunks: Iterable<Uint8Array>): Iterable<Uint8Array> {
  if (typeof (chunks as Partial<Iterator<Uint8Array>>).next !== 'function') return chunks
  const source = chunks[Symbol.iterator]()
  const seen: Uint8Array[] = []
  let done = false
  return {
    [Symbol.iterator](): Iterator<Uint8Array> {
      let at = 0
      return {
        next(): IteratorResult<Uint8Array> {
          if (at < seen.length) return { done: false, value: seen[at++]! }
          if (done) return { done: true, value: undefined }
          const result = source.next()
          if (result.done) {
            done = true
            return { done: true, value: undefined }
          }
          seen.push(result.value)
          at++
          return { done: false, value: result.value }
        },
      }
    },
  }
}
