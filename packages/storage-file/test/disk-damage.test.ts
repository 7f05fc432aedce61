import { readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { isLockstepError, type LockstepError, type Logger } from '@lockstep/interface'
import { afterEach, describe, expect, it } from 'vitest'
import type { FileStorageOptions } from '../src/index'
import { buildFileStorage, countingFileSystem, filesEndingWith, plain, readDirectory, record, removeTempDirs, tempDir } from './helpers'

afterEach(removeTempDirs)

const HEADER = 20
const FRAME_HEADER = 16
const DATA_BYTES = 30
const FRAME = FRAME_HEADER + DATA_BYTES

const fast = (dir: string, extra: Partial<FileStorageOptions> = {}): FileStorageOptions => ({ dir, fs: countingFileSystem(), ...extra })

async function openError(options: FileStorageOptions): Promise<LockstepError> {
  const error = await buildFileStorage(options)
    .open()
    .then(
      () => undefined,
      (e: unknown) => e,
    )
  expect(isLockstepError(error), `expected STORAGE_CORRUPT, got ${String(error)}`).toBe(true)
  expect((error as LockstepError).code).toBe('STORAGE_CORRUPT')
  return error as LockstepError
}

/** One segment (the active one) holding records 1..count of DATA_BYTES each; returns its name. */
async function oneSegment(dir: string, count: number, snapshotAt?: number, extra: Partial<FileStorageOptions> = {}): Promise<string> {
  const storage = buildFileStorage(fast(dir, extra))
  await storage.open()
  for (let position = 1; position <= count; position++) storage.append([record(position, DATA_BYTES)])
  // After every record: the snapshot sits in the middle of the segment, which stays.
  if (snapshotAt !== undefined) await storage.writeSnapshot({ position: snapshotAt, data: new Uint8Array([snapshotAt]) })
  await storage.close()
  const segments = await filesEndingWith(dir, '.log')
  expect(segments).toHaveLength(1)
  return segments[0]!
}

async function flipBit(path: string, offset: number): Promise<void> {
  const bytes = await readFile(path)
  bytes[offset]! ^= 0x10
  await writeFile(path, bytes)
}

/** The number of records in a segment file of `length` bytes (records of DATA_BYTES). */
function lastFrameCount(length: number): number {
  return (length - HEADER) / FRAME
}

/** A logger that keeps what was logged at error level. */
function errorRecorder(): Logger & { errors: { message: string; fields: Record<string, unknown> | undefined }[] } {
  const errors: { message: string; fields: Record<string, unknown> | undefined }[] = []
  const ignore = () => undefined
  return { errors, debug: ignore, info: ignore, warn: ignore, error: (message: string, fields?: Record<string, unknown>) => void errors.push({ message, fields }) }
}

describe('disk damage in the middle of the active segment is corruption, not a torn tail', () => {
  it('a flipped bit mid-segment with valid records after it is STORAGE_CORRUPT naming the file and the offset; nothing on disk changes', async () => {
    const dir = await tempDir()
    const segment = await oneSegment(dir, 20)
    const damagedFrame = 9 // the 10th record, 1-based position 10
    const offset = HEADER + damagedFrame * FRAME
    await flipBit(join(dir, segment), offset + FRAME_HEADER + 5)
    const before = await readDirectory(dir)
    const error = await openError(fast(dir))
    expect(error.message).toContain(segment)
    expect(error.message).toContain(`at byte ${offset}`)
    expect(error.details).toMatchObject({ path: segment, file: join(dir, segment), offset, validRecordAt: offset + FRAME, lastIntactPosition: 9, nextValidPosition: 11 })
    const after = await readDirectory(dir)
    after.delete('LOCK')
    before.delete('LOCK')
    expect(after).toEqual(before)
  })

  it('a flipped bit in a length field (frame boundaries lost) is still found to have valid records after it', async () => {
    const dir = await tempDir()
    const segment = await oneSegment(dir, 20)
    const offset = HEADER + 4 * FRAME
    await flipBit(join(dir, segment), offset + 6) // the third byte of the length: the frame looks far longer than the file
    const error = await openError(fast(dir))
    expect(error.details).toMatchObject({ path: segment, offset, reason: 'record cut short', validRecordAt: offset + FRAME })
  })

  it("with onCorruptLog: 'truncate' the records before the damage survive and a copy of the whole segment is kept aside", async () => {
    const dir = await tempDir()
    const segment = await oneSegment(dir, 20)
    const original = await readFile(join(dir, segment))
    await flipBit(join(dir, segment), HEADER + 9 * FRAME + 20)
    const damaged = await readFile(join(dir, segment))
    const storage = buildFileStorage(fast(dir, { onCorruptLog: 'truncate' }))
    const recovered = await storage.open()
    expect(plain(recovered.records)).toEqual(plain(Array.from({ length: 9 }, (_, i) => record(i + 1, DATA_BYTES))))
    await storage.close()
    expect(await filesEndingWith(dir, '.corrupt')).toEqual([`${segment}.corrupt`])
    expect(new Uint8Array(await readFile(join(dir, `${segment}.corrupt`)))).toEqual(new Uint8Array(damaged))
    expect(original.length).toBe(damaged.length)
  })

  it('a torn tail at the very end (a record cut short, or garbage after the last record) is still truncated as before', async () => {
    const dir = await tempDir()
    // Written without zeros ahead of the records, as earlier versions wrote segments (preallocated ones: preallocation.test.ts).
    const segment = await oneSegment(dir, 20, undefined, { preallocateBytes: 0 })
    const path = join(dir, segment)
    const bytes = await readFile(path)
    // The last record cut short, then a flipped bit in what is left of it.
    const torn = bytes.subarray(0, bytes.length - 7)
    torn[torn.length - 3]! ^= 1
    await writeFile(path, torn)
    const storage = buildFileStorage(fast(dir))
    const recovered = await storage.open()
    expect(recovered.records.map((r) => r.position)).toEqual(Array.from({ length: 19 }, (_, i) => i + 1))
    await storage.close()
    expect((await readFile(path)).length).toBe(HEADER + 19 * FRAME)
    // A flipped bit in the last complete record: it is the tail, nothing valid follows it.
    await flipBit(path, HEADER + 18 * FRAME + 20)
    const again = buildFileStorage(fast(dir))
    expect((await again.open()).records).toHaveLength(18)
    await again.close()
  })
})

describe('the snapshot manifest', () => {
  it('a deleted snapshot that sits mid-segment (the chain still looks complete) is STORAGE_CORRUPT naming it', async () => {
    const dir = await tempDir()
    await oneSegment(dir, 20, 10)
    const snapshot = 'snapshot-0000000000000010.snap'
    expect(await filesEndingWith(dir, '.snap')).toEqual([snapshot])
    await rm(join(dir, snapshot))
    const error = await openError(fast(dir))
    expect(error.message).toContain(snapshot)
    expect(error.message).toContain('missing')
    expect(error.details).toMatchObject({ path: snapshot, file: join(dir, snapshot) })
  })

  it('a corrupted snapshot that sits mid-segment is STORAGE_CORRUPT, not replaced by replaying the log from the start', async () => {
    const dir = await tempDir()
    await oneSegment(dir, 20, 10)
    const snapshot = 'snapshot-0000000000000010.snap'
    await flipBit(join(dir, snapshot), 24)
    const error = await openError(fast(dir))
    expect(error.message).toContain(snapshot)
    expect(error.message).toContain('checksum')
  })

  it('a damaged manifest is STORAGE_CORRUPT', async () => {
    const dir = await tempDir()
    await oneSegment(dir, 20, 10)
    await flipBit(join(dir, 'MANIFEST'), 9)
    const error = await openError(fast(dir))
    expect(error.message).toContain('MANIFEST')
  })

  it('each snapshot rewrites the manifest; the intact snapshot opens as before', async () => {
    const dir = await tempDir()
    const storage = buildFileStorage(fast(dir))
    await storage.open()
    storage.append([record(1), record(2)])
    await storage.writeSnapshot({ position: 2, data: new Uint8Array([2]) })
    storage.append([record(3)])
    await storage.writeSnapshot({ position: 3, data: new Uint8Array([3]) })
    storage.append([record(4)])
    await storage.close()
    expect((await readdir(dir)).filter((n) => n.startsWith('MANIFEST') || n.endsWith('.snap')).sort()).toEqual(['MANIFEST', 'snapshot-0000000000000003.snap'])
    const again = buildFileStorage(fast(dir))
    const recovered = await again.open()
    expect(recovered.snapshot?.position).toBe(3)
    expect(recovered.records.map((r) => r.position)).toEqual([4])
    expect(recovered.damaged).toBeUndefined()
    await again.close()
  })
})

describe("onCorruptLog: 'rejoin'", () => {
  it('moves every data file aside, opens empty with the damage named, says so on every open until a snapshot is written', async () => {
    const dir = await tempDir()
    const segment = await oneSegment(dir, 20, 5)
    const offset = HEADER + 9 * FRAME
    await flipBit(join(dir, segment), offset + 20)
    const before = await readDirectory(dir)
    before.delete('LOCK')
    const logger = errorRecorder()
    const storage = buildFileStorage({ ...fast(dir, { onCorruptLog: 'rejoin' }), logger })
    const recovered = await storage.open()
    expect(recovered.snapshot).toBeUndefined()
    expect(recovered.records).toEqual([])
    expect(recovered.damaged).toMatchObject({ file: join(dir, segment), offset, setAsideIn: join(dir, 'damaged-1') })
    expect(logger.errors.map((e) => e.message).join('\n')).toContain(`${join(dir, segment)} at byte ${offset}`)
    // Moved, never deleted: the set-aside folder holds every data file, byte for byte.
    const setAside = await readDirectory(join(dir, 'damaged-1'))
    expect(setAside).toEqual(new Map([...before].filter(([name]) => name !== 'LOCK')))
    await storage.close()

    const second = buildFileStorage({ ...fast(dir, { onCorruptLog: 'rejoin' }), logger })
    expect((await second.open()).damaged).toMatchObject({ file: join(dir, segment), offset })
    await second.close()
    // Opened with the default policy, the damage is still an error: the directory holds no state to serve.
    const failed = await openError(fast(dir))
    expect(failed.message).toContain(join(dir, segment))

    // State taken from the peers arrives as a snapshot: from then on the directory is an ordinary one.
    const third = buildFileStorage({ ...fast(dir, { onCorruptLog: 'rejoin' }), logger })
    expect((await third.open()).damaged).toBeDefined()
    await third.writeSnapshot({ position: 40, data: new Uint8Array([40]) })
    third.append([record(41)])
    await third.close()
    const healed = buildFileStorage(fast(dir))
    const back = await healed.open()
    expect(back.damaged).toBeUndefined()
    expect(back.snapshot?.position).toBe(40)
    expect(back.records.map((r) => r.position)).toEqual([41])
    await healed.close()
    expect((await readdir(dir)).filter((n) => n.startsWith('damaged-'))).toEqual(['damaged-1'])
  })

  it('says what is still readable around the damage: the snapshot, every valid record before and after it, and each damaged stretch as a hole', async () => {
    const dir = await tempDir()
    const segment = await oneSegment(dir, 30, 5)
    await flipBit(join(dir, segment), HEADER + 9 * FRAME + FRAME_HEADER + 3) // the data of record 10
    await flipBit(join(dir, segment), HEADER + 19 * FRAME + 6) // the length of record 20: frame boundaries lost there
    await flipBit(join(dir, segment), HEADER + 20 * FRAME + 2) // and the checksum of record 21
    const storage = buildFileStorage(fast(dir, { onCorruptLog: 'rejoin' }))
    const recovered = await storage.open()
    const readable = recovered.damaged?.readable
    expect(readable?.snapshot?.position).toBe(5)
    const kept = [6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 17, 18, 19, 22, 23, 24, 25, 26, 27, 28, 29, 30]
    expect(readable?.records.map((r) => r.position)).toEqual(kept)
    for (const r of readable?.records ?? []) expect(r.data).toEqual(record(r.position, DATA_BYTES).data)
    expect(readable?.holes).toEqual([
      { after: 9, before: 11 },
      { after: 19, before: 22 },
    ])
    // Nothing of it is served: the storage itself opens empty, as before.
    expect(recovered.snapshot).toBeUndefined()
    expect(recovered.records).toEqual([])
    storage.append([record(1, DATA_BYTES)]) // written after the damage, before the replica rejoined
    await storage.close()
    // Every later open (until a snapshot is written) reads the files set aside again, and only those.
    const again = buildFileStorage(fast(dir, { onCorruptLog: 'rejoin' }))
    const second = (await again.open()).damaged?.readable
    expect(second?.snapshot?.position).toBe(5)
    expect(second?.records.map((r) => r.position)).toEqual(kept)
    expect(second?.holes).toEqual(readable?.holes)
    await again.close()
    // The default policy fails without carrying the records in its error.
    await rm(join(dir, 'DAMAGED'))
    for (const name of (await readdir(join(dir, 'damaged-1'))).filter((n) => !n.includes('.log-'))) await writeFile(join(dir, name), await readFile(join(dir, 'damaged-1', name)))
    expect((await openError(fast(dir))).details).not.toHaveProperty('readable')
  })

  it('reads on into later segments past a damaged one, a lost segment end being a hole too', async () => {
    const dir = await tempDir()
    const storage = buildFileStorage(fast(dir, { segmentBytes: HEADER + 10 * FRAME }))
    await storage.open()
    for (let position = 1; position <= 25; position++) storage.append([record(position, DATA_BYTES)])
    await storage.close()
    const segments = (await filesEndingWith(dir, '.log')).sort()
    expect(segments.length).toBeGreaterThanOrEqual(3)
    // The last record of the first segment is damaged: nothing follows it there, the next segment shows it was lost.
    const first = join(dir, segments[0]!)
    const bytes = await readFile(first)
    const lastFrame = bytes.length - FRAME
    await flipBit(first, lastFrame + FRAME_HEADER + 1)
    const reopened = buildFileStorage(fast(dir, { onCorruptLog: 'rejoin', segmentBytes: HEADER + 10 * FRAME }))
    const readable = (await reopened.open()).damaged?.readable
    const lost = lastFrameCount(bytes.length) // the first segment holds records 1..lost
    expect(readable?.holes).toEqual([{ after: lost - 1, before: lost + 1 }])
    expect(readable?.records.map((r) => r.position)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1).filter((p) => p !== lost))
    await reopened.close()
  })

  it('a deleted snapshot is set aside the same way', async () => {
    const dir = await tempDir()
    await oneSegment(dir, 20, 10)
    await rm(join(dir, 'snapshot-0000000000000010.snap'))
    const storage = buildFileStorage(fast(dir, { onCorruptLog: 'rejoin' }))
    const recovered = await storage.open()
    expect(recovered.damaged).toMatchObject({ file: join(dir, 'snapshot-0000000000000010.snap') })
    expect(recovered.damaged?.message).toContain('missing')
    await storage.close()
  })

  it('a torn tail is no damage: it is truncated and the contents are kept', async () => {
    const dir = await tempDir()
    const segment = await oneSegment(dir, 20)
    const path = join(dir, segment)
    await writeFile(path, (await readFile(path)).subarray(0, HEADER + 19 * FRAME + 3))
    const storage = buildFileStorage(fast(dir, { onCorruptLog: 'rejoin' }))
    const recovered = await storage.open()
    expect(recovered.damaged).toBeUndefined()
    expect(recovered.records).toHaveLength(19)
    await storage.close()
  })
})
