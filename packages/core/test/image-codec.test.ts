import { describe, expect, it } from 'vitest'
import { ErrorCodes } from '@lockstep/interface'
import { kv } from '@lockstep/machines'
import { decodeSnapshot, snapshotPieces } from '../src/host/durable-codec'
import { concat } from '../src/engine/image-codec'
import { ReplicatedState } from '../src/engine/replicated-state'
import type { LazySnapshot } from '../src/engine/engine-types'

/** A kv state of `keys` entries, its lazy snapshot captured at once. */
function kvSnapshot(keys: number): { state: ReplicatedState<unknown>; snapshot: LazySnapshot } {
  const state = new ReplicatedState(kv as never)
  for (let i = 0; i < keys; i++) state.execute({ client: 'c', seq: i + 1, command: { name: 'put', args: { key: `k${i}`, value: `${i}:${'v'.repeat(1000)}` } } })
  const image = state.image()
  return { state, snapshot: { position: image.position, resume: { view: { id: 4, members: ['r1', 'r2', 'r3'] } }, image } }
}

describe('snapshot images', () => {
  it('a chunked machine snapshot reads back to the same state, and stays the state of its capture', () => {
    const { state, snapshot } = kvSnapshot(600)
    const digest = state.digest()
    // The state changes after the capture; the bytes produced later are still those of the capture.
    state.execute({ client: 'c', seq: 601, command: { name: 'put', args: { key: 'k0', value: 'changed' } } })
    const bytes = concat([...snapshotPieces(snapshot)])
    const back = decodeSnapshot(bytes)
    expect(back.view).toEqual({ id: 4, members: ['r1', 'r2', 'r3'] })
    expect(back.position).toBe(600)
    expect(back.machine instanceof Uint8Array).toBe(false) // the machine's chunks, not one snapshot
    const restored = new ReplicatedState(kv as never)
    restored.restore(back)
    expect(restored.digest()).toBe(digest)
    expect(restored.position).toBe(600)
  })

  it('reads a snapshot written by earlier versions (JSON, the machine in base64)', () => {
    const machine = kv.snapshot({ data: new Map([['a', '1'], ['b', '2']]) })
    const old = new TextEncoder().encode(JSON.stringify({ view: { id: 2, members: ['r1', 'r2', 'r3'] }, position: 7, sessions: [], machine: Buffer.from(machine).toString('base64') }))
    const back = decodeSnapshot(old)
    expect(back.position).toBe(7)
    const restored = new ReplicatedState(kv as never)
    restored.restore(back)
    expect(restored.toJSON()).toEqual({ a: '1', b: '2' })
  })

  it('a truncated or damaged snapshot fails with STORAGE_CORRUPT, saying where', () => {
    const { snapshot } = kvSnapshot(50)
    const bytes = concat([...snapshotPieces(snapshot)])
    const truncated = decodeSnapshot(bytes.subarray(0, bytes.length - 10))
    expect(() => new ReplicatedState(kv as never).restore(truncated)).toThrow(expect.objectContaining({ code: ErrorCodes.STORAGE_CORRUPT, message: expect.stringMatching(/the snapshot .*chunk \d+.*runs past its end/) }))
    const damaged = bytes.slice()
    damaged[damaged.length - 3] = 0x7b // '{' inside the last chunk's JSON
    expect(() => new ReplicatedState(kv as never).restore(decodeSnapshot(damaged))).toThrow(expect.objectContaining({ code: ErrorCodes.STORAGE_CORRUPT }))
  })
})

describe('the recent order a snapshot keeps', () => {
  const request = (n: number) => ({ client: 'c', seq: n, command: { name: 'put', args: { key: `k${n}`, value: n % 2 === 0 ? `v${n}` : Uint8Array.of(n, 0, 255) } }, ackedBelow: n })

  it('reads back the requests as they went in (binary values too), with their digests and where they start', () => {
    const { snapshot } = kvSnapshot(3)
    const recent = { from: { position: 0, digest: '' }, requests: [request(1), request(2), request(3)], digests: ['d1', 'd2', 'd3'] }
    const back = decodeSnapshot(concat([...snapshotPieces({ ...snapshot, resume: { ...snapshot.resume, recent } })]))
    expect(back.recent!.from).toEqual(recent.from)
    expect(back.recent!.digests).toEqual(recent.digests)
    expect(back.recent!.requests[1]).toEqual(request(2))
    // A binary value comes back binary (a Buffer, as from the log's records), with its bytes.
    const value = (back.recent!.requests[0]!.command as { args: { value: Uint8Array } }).args.value
    expect(value).toBeInstanceOf(Uint8Array)
    expect([...value]).toEqual([1, 0, 255])
    expect(back.view).toEqual({ id: 4, members: ['r1', 'r2', 'r3'] })
    expect(decodeSnapshot(concat([...snapshotPieces(snapshot)])).recent, 'none kept: none written').toBeUndefined()
  })

  it('a recent order that does not decode is STORAGE_CORRUPT, naming it', () => {
    const { snapshot } = kvSnapshot(2)
    const bytes = concat([...snapshotPieces({ ...snapshot, resume: { ...snapshot.resume, recent: { from: { position: 0, digest: '' }, requests: [request(1), request(2)], digests: ['d1', 'd2'] } } })])
    // The same header with a digest that is not a string (of the same length, so the header's length still holds).
    const text = Buffer.from(bytes).toString('latin1').replace('"digests":["d1","d2"]', '"digests":["d1",1234]')
    expect(() => decodeSnapshot(Uint8Array.from(Buffer.from(text, 'latin1')))).toThrow(expect.objectContaining({ code: ErrorCodes.STORAGE_CORRUPT, message: expect.stringMatching(/recent order has no valid `digests`/) }))
  })
})

describe('the order digest version an image holds', () => {
  const restoredFrom = (bytes: Uint8Array, newHistories: 1 | 2 = 2) => {
    const restored = new ReplicatedState(kv as never, {}, newHistories)
    restored.restore(decodeSnapshot(bytes))
    return restored
  }

  it('an image made by a version 2 history says so, and its restorer continues version 2', () => {
    const { state, snapshot } = kvSnapshot(3)
    expect(state.orderDigestVersion).toBe(2)
    const restored = restoredFrom(concat([...snapshotPieces(snapshot)]), 1)
    expect(restored.orderDigestVersion).toBe(2)
    expect(restored.orderDigest).toBe(state.orderDigest)
    // both go on alike
    for (const s of [state, restored]) s.execute({ client: 'c', seq: 4, command: { name: 'get', args: { key: 'k0' } } })
    expect(restored.orderDigest).toBe(state.orderDigest)
  })

  it('an image of a version 1 history (or of an earlier version, which writes none) is continued with version 1', () => {
    const old = new ReplicatedState(kv as never, {}, 1)
    for (let i = 0; i < 3; i++) old.execute({ client: 'c', seq: i + 1, command: { name: 'put', args: { key: `k${i}`, value: 'v' } } })
    const image = old.image()
    const bytes = concat([...snapshotPieces({ position: image.position, resume: { view: { id: 1, members: ['r1'] } }, image })])
    expect(new TextDecoder().decode(bytes)).not.toContain('orderDigestVersion') // as earlier versions wrote it
    const restored = restoredFrom(bytes, 2)
    expect(restored.orderDigestVersion).toBe(1)
    for (const s of [old, restored]) s.execute({ client: 'c', seq: 4, command: { name: 'get', args: { key: 'k0' } } })
    expect(restored.orderDigest).toBe(old.orderDigest)
  })

  it('an image at position 0 holds no order: its restorer starts a new history with its own version', () => {
    const empty = new ReplicatedState(kv as never, {}, 1)
    const image = empty.image()
    const bytes = concat([...snapshotPieces({ position: 0, resume: { view: { id: 1, members: ['r1'] } }, image })])
    expect(restoredFrom(bytes, 2).orderDigestVersion).toBe(2)
  })

  it('an image of a version this build does not know is refused, naming it', () => {
    const { snapshot } = kvSnapshot(2)
    const bytes = concat([...snapshotPieces({ ...snapshot, image: { ...snapshot.image, orderDigestVersion: 7 as never } })])
    expect(() => decodeSnapshot(bytes)).toThrow(expect.objectContaining({ code: ErrorCodes.UNSUPPORTED, message: expect.stringContaining('order digest is version 7') as unknown }))
  })
})
