import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { isLockstepError, type LockstepError } from '@lockstep/interface'
import { afterEach, describe, expect, it } from 'vitest'
import type { FileStorageOptions } from '../src/index'
import { encodeFrame } from '../src/wal-format'
import { buildFileStorage, countingFileSystem, filesEndingWith, plain, readDirectory, record, removeTempDirs, tempDir } from './helpers'

afterEach(removeTempDirs)

/** Storage options for tests: fsyncs are counted but skipped, so tests run fast. */
const fast = (dir: string, extra: Partial<FileStorageOptions> = {}): FileStorageOptions => ({ dir, fs: countingFileSystem(), ...extra })

async function expectLockstepError(promise: Promise<unknown>, code: string): Promise<LockstepError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(isLockstepError(error), `expected a LockstepError ${code}, got ${String(error)}`).toBe(true)
  expect((error as LockstepError).code).toBe(code)
  return error as LockstepError
}

async function reopen(options: FileStorageOptions) {
  const storage = buildFileStorage(options)
  const recovered = await storage.open()
  return { storage, recovered }
}

describe('fileStorage: round trip', () => {
  it('an empty directory opens with no snapshot and no records', async () => {
    const dir = await tempDir()
    const storage = buildFileStorage({ dir })
    expect(await storage.open()).toEqual({ snapshot: undefined, records: [] })
    await storage.close()
  })

  it('returns after a restart every record that was synced, in order, byte for byte (real fsyncs)', async () => {
    const dir = await tempDir()
    const storage = buildFileStorage({ dir })
    await storage.open()
    const written = [record(1, 0), record(2, 100), record(3, 1), record(7, 5000)]
    storage.append(written.slice(0, 2))
    await storage.sync()
    storage.append(written.slice(2))
    await storage.sync()
    await storage.close()
    const { storage: again, recovered } = await reopen({ dir })
    expect(recovered.snapshot).toBeUndefined()
    expect(plain(recovered.records)).toEqual(plain(written))
    expect(recovered.records[0]!.data).toBeInstanceOf(Uint8Array)
    await again.close()
  })

  it('keeps positions with gaps and continues appending after a restart', async () => {
    const dir = await tempDir()
    const first = buildFileStorage(fast(dir))
    await first.open()
    first.append([record(10), record(20)])
    await first.sync()
    await first.close()
    const { storage, recovered } = await reopen(fast(dir))
    expect(recovered.records.map((r) => r.position)).toEqual([10, 20])
    storage.append([record(21), record(30)])
    await storage.sync()
    await storage.close()
    const { storage: third, recovered: again } = await reopen(fast(dir))
    expect(again.records.map((r) => r.position)).toEqual([10, 20, 21, 30])
    await third.close()
  })

  it('rolls over into new segments and reads them all back', async () => {
    const dir = await tempDir()
    const storage = buildFileStorage(fast(dir, { segmentBytes: 256 }))
    await storage.open()
    const written = Array.from({ length: 60 }, (_, i) => record(i + 1, (i * 13) % 50))
    for (let i = 0; i < written.length; i += 7) {
      storage.append(written.slice(i, i + 7))
      await storage.sync()
    }
    expect(storage.stats().segments).toBeGreaterThan(5)
    await storage.close()
    const segments = await filesEndingWith(dir, '.log')
    expect(segments.length).toBeGreaterThan(5)
    for (const name of segments) expect((await readFile(join(dir, name))).length).toBeLessThanOrEqual(256)
    const { storage: again, recovered } = await reopen(fast(dir, { segmentBytes: 256 }))
    expect(plain(recovered.records)).toEqual(plain(written))
    await again.close()
  })

  it('a record larger than a segment gets a segment of its own', async () => {
    const dir = await tempDir()
    const storage = buildFileStorage(fast(dir, { segmentBytes: 256 }))
    await storage.open()
    storage.append([record(1, 10), record(2, 1000), record(3, 10)])
    await storage.close()
    const { storage: again, recovered } = await reopen(fast(dir, { segmentBytes: 256 }))
    expect(plain(recovered.records)).toEqual(plain([record(1, 10), record(2, 1000), record(3, 10)]))
    expect(await filesEndingWith(dir, '.log')).toHaveLength(3)
    await again.close()
  })
})

describe('fileStorage: append checks', () => {
  it('rejects positions that do not strictly increase, appending nothing of a bad batch', async () => {
    const dir = await tempDir()
    const storage = buildFileStorage(fast(dir))
    await storage.open()
    storage.append([record(5)])
    expect(() => storage.append([record(6), record(6)])).toThrow(/not above 6/)
    expect(() => storage.append([record(5)])).toThrow(/not above 5/)
    expect(() => storage.append([{ position: 0, data: new Uint8Array() }])).toThrow(/safe integers from 1/)
    expect(() => storage.append([{ position: 1.5, data: new Uint8Array() }])).toThrow(/safe integers from 1/)
    expect(() => storage.append([{ position: 9, data: 'text' as unknown as Uint8Array }])).toThrow(/not a Uint8Array/)
    storage.append([record(6)])
    await storage.close()
    const { storage: again, recovered } = await reopen(fast(dir))
    expect(recovered.records.map((r) => r.position)).toEqual([5, 6])
    expect(() => again.append([record(6)])).toThrow(/not above 6/)
    await again.close()
  })

  it('refuses calls before open and after close with STOPPED', async () => {
    const dir = await tempDir()
    const storage = buildFileStorage(fast(dir))
    expect(() => storage.append([record(1)])).toThrow(expect.objectContaining({ code: 'STOPPED' }))
    await storage.open()
    await expectLockstepError(storage.open(), 'INTERNAL')
    await storage.close()
    await storage.close()
    expect(() => storage.append([record(1)])).toThrow(expect.objectContaining({ code: 'STOPPED' }))
    await expectLockstepError(storage.sync(), 'STOPPED')
    await expectLockstepError(storage.writeSnapshot({ position: 1, data: new Uint8Array() }), 'STOPPED')
  })
})

describe('fileStorage: options', () => {
  it.each([
    [{ dir: '' }, '/dir'],
    [{ dir: 'x', sync: 'always' }, '/sync'],
    [{ dir: 'x', sync: 'batch', syncIntervalMs: 5 }, '/syncIntervalMs'],
    [{ dir: 'x', sync: 'interval', syncIntervalMs: 0 }, '/syncIntervalMs'],
    [{ dir: 'x', sync: 'interval', syncIntervalMs: Number.NaN }, '/syncIntervalMs'],
    [{ dir: 'x', segmentBytes: 100 }, '/segmentBytes'],
    [{ dir: 'x', segmentBytes: 4096.5 }, '/segmentBytes'],
    [{ dir: 'x', onCorruptLog: 'ignore' }, '/onCorruptLog'],
  ])('rejects %j with INVALID_CONFIG at %s', (options, path) => {
    expect(() => buildFileStorage(options as unknown as FileStorageOptions)).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG', details: { path } }))
  })
})

describe('fileStorage: a directory it cannot use', () => {
  it('a dir that is a file is INVALID_CONFIG, with the I/O error as the cause', async () => {
    const parent = await tempDir()
    const file = join(parent, 'not-a-directory')
    await writeFile(file, 'x')
    const error = await expectLockstepError(buildFileStorage(fast(file)).open(), 'INVALID_CONFIG')
    expect(error.message).toContain(file)
    expect(error.cause).toBeInstanceOf(Error)
  })
})

describe('fileStorage: the directory lock', () => {
  it('a second storage on the same directory is refused while the first is open, and allowed after close', async () => {
    const dir = await tempDir()
    const first = buildFileStorage(fast(dir))
    await first.open()
    const error = await expectLockstepError(buildFileStorage(fast(dir)).open(), 'INVALID_CONFIG')
    expect(error.message).toContain('already open in this process')
    await first.close()
    expect(await filesEndingWith(dir, 'LOCK')).toEqual([])
    const second = buildFileStorage(fast(dir))
    await second.open()
    await second.close()
  })

  it('a lock held by another live process is refused', async () => {
    const dir = await tempDir()
    const { hostname } = await import('node:os')
    await writeFile(join(dir, 'LOCK'), `${process.ppid}\n${hostname()}\n`)
    const error = await expectLockstepError(buildFileStorage(fast(dir)).open(), 'INVALID_CONFIG')
    expect(error.message).toContain(`process ${process.ppid}`)
    expect(error.message).toContain('delete')
  })

  it('a lock left by a dead process is taken over', async () => {
    const dir = await tempDir()
    const { hostname } = await import('node:os')
    const { spawnSync } = await import('node:child_process')
    const deadPid = spawnSync(process.execPath, ['-e', '']).pid!
    await writeFile(join(dir, 'LOCK'), `${deadPid}\n${hostname()}\n`)
    const storage = buildFileStorage(fast(dir))
    await storage.open()
    expect((await readFile(join(dir, 'LOCK'), 'utf8')).split('\n')[0]).toBe(String(process.pid))
    await storage.close()
  })

  it('an empty lock file (its creator crashed before writing it) is taken over', async () => {
    const dir = await tempDir()
    await writeFile(join(dir, 'LOCK'), '')
    const storage = buildFileStorage(fast(dir))
    await storage.open()
    await storage.close()
  })

  it('a failed open releases the lock', async () => {
    const dir = await tempDir()
    await writeFile(join(dir, 'wal-0000000000000001.log'), new Uint8Array(100).fill(7))
    await expectLockstepError(buildFileStorage(fast(dir)).open(), 'STORAGE_CORRUPT')
    expect(await filesEndingWith(dir, 'LOCK')).toEqual([])
  })
})

describe('fileStorage: snapshots and compaction', () => {
  it('a snapshot replaces the records it covers; whole covered segments are deleted', async () => {
    const dir = await tempDir()
    const options = fast(dir, { segmentBytes: 256 })
    const storage = buildFileStorage(options)
    await storage.open()
    for (let position = 1; position <= 40; position++) {
      storage.append([record(position, 20)])
      await storage.sync()
    }
    const segmentsBefore = (await filesEndingWith(dir, '.log')).length
    await storage.writeSnapshot({ position: 25, data: new TextEncoder().encode('state@25') })
    const segmentsAfter = (await filesEndingWith(dir, '.log')).length
    expect(segmentsAfter).toBeLessThan(segmentsBefore)
    expect(storage.stats().segmentsDeleted).toBe(segmentsBefore - segmentsAfter)
    await storage.close()

    const { storage: again, recovered } = await reopen(options)
    expect(recovered.snapshot?.position).toBe(25)
    expect(new TextDecoder().decode(recovered.snapshot?.data)).toBe('state@25')
    expect(recovered.records.map((r) => r.position)).toEqual(Array.from({ length: 15 }, (_, i) => 26 + i))
    // The segment holding position 25 stays (it also holds 26..), but every record left on disk is either in it or above 25.
    const image = await readDirectory(dir)
    const { parseSegment } = await import('../src/wal-format')
    const kept = [...image].filter(([name]) => name.endsWith('.log')).map(([, bytes]) => parseSegment(bytes))
    expect(kept.slice(1).every((s) => s.records.every((r) => r.position > 25))).toBe(true)
    expect(kept[0]!.records.some((r) => r.position > 25)).toBe(true)

    // A snapshot covering everything leaves one empty segment and one snapshot file.
    await again.writeSnapshot({ position: 40, data: new TextEncoder().encode('state@40') })
    expect(await filesEndingWith(dir, '.log')).toHaveLength(1)
    expect(await filesEndingWith(dir, '.snap')).toEqual(['snapshot-0000000000000040.snap'])
    again.append([record(41)])
    await again.close()

    const { storage: third, recovered: last } = await reopen(options)
    expect(last.snapshot?.position).toBe(40)
    expect(plain(last.records)).toEqual(plain([record(41)]))
    await third.close()
  })

  it('a snapshot ahead of the log (from state transfer) moves the append floor', async () => {
    const dir = await tempDir()
    const storage = buildFileStorage(fast(dir))
    await storage.open()
    storage.append([record(1), record(2)])
    await storage.writeSnapshot({ position: 1000, data: new Uint8Array([1]) })
    expect(() => storage.append([record(999)])).toThrow(/not above 1000/)
    storage.append([record(1001)])
    await storage.close()
    const { storage: again, recovered } = await reopen(fast(dir))
    expect(recovered.snapshot?.position).toBe(1000)
    expect(recovered.records.map((r) => r.position)).toEqual([1001])
    await expectLockstepError(
      again.writeSnapshot({ position: 999, data: new Uint8Array() }).catch((e: unknown) => Promise.reject(e)),
      'INTERNAL',
    )
    await again.close()
  })

  it('records written before a snapshot but not yet synced are covered by it', async () => {
    const dir = await tempDir()
    const fs = countingFileSystem()
    const storage = buildFileStorage({ dir, fs })
    await storage.open()
    storage.append([record(1), record(2), record(3)])
    await storage.writeSnapshot({ position: 3, data: new Uint8Array([3]) })
    expect(storage.stats().syncedRecords).toBe(3)
    await storage.close()
    const { storage: again, recovered } = await reopen(fast(dir))
    expect(recovered.snapshot?.position).toBe(3)
    expect(recovered.records).toEqual([])
    await again.close()
  })

  it('a crash during the snapshot write (temporary file left behind) is ignored', async () => {
    const dir = await tempDir()
    const storage = buildFileStorage(fast(dir))
    await storage.open()
    storage.append([record(1), record(2), record(3)])
    await storage.writeSnapshot({ position: 1, data: new Uint8Array([1]) })
    await storage.sync()
    await storage.close()
    // The next snapshot was being written when the process died: half a file under the temporary name.
    await writeFile(join(dir, 'snapshot-0000000000000003.snap.tmp'), new Uint8Array([0x4c, 0x53, 0x54]))
    const { storage: again, recovered } = await reopen(fast(dir))
    expect(recovered.snapshot?.position).toBe(1)
    expect(recovered.records.map((r) => r.position)).toEqual([2, 3])
    expect(await filesEndingWith(dir, '.tmp')).toEqual([])
    await again.close()
  })

  it('a crash between writing and renaming the snapshot keeps the old state', async () => {
    const dir = await tempDir()
    const fs = countingFileSystem()
    const storage = buildFileStorage({ dir, fs })
    await storage.open()
    storage.append([record(1), record(2)])
    await storage.sync()
    fs.failWhen = (operation) => (operation === 'rename' ? new Error('simulated crash before rename') : undefined)
    const error = await expectLockstepError(storage.writeSnapshot({ position: 2, data: new Uint8Array([2]) }), 'STOPPED')
    expect(error.message).toContain('simulated crash before rename')
    expect(() => storage.append([record(3)])).toThrow(expect.objectContaining({ code: 'STOPPED' }))
    await storage.close()
    const { storage: again, recovered } = await reopen(fast(dir))
    expect(recovered.snapshot).toBeUndefined()
    expect(recovered.records.map((r) => r.position)).toEqual([1, 2])
    expect(await filesEndingWith(dir, '.tmp')).toEqual([])
    await again.close()
  })

  it('an invalid newest snapshot is set aside and the older valid one is used', async () => {
    const dir = await tempDir()
    const storage = buildFileStorage(fast(dir))
    await storage.open()
    storage.append([record(1), record(2), record(3)])
    await storage.writeSnapshot({ position: 1, data: new Uint8Array([1]) })
    await storage.close()
    await writeFile(join(dir, 'snapshot-0000000000000002.snap'), new Uint8Array(40).fill(9))
    const { storage: again, recovered } = await reopen(fast(dir))
    expect(recovered.snapshot?.position).toBe(1)
    expect(recovered.records.map((r) => r.position)).toEqual([2, 3])
    expect(await filesEndingWith(dir, '.corrupt')).toEqual(['snapshot-0000000000000002.snap.corrupt'])
    await again.close()
  })

  it('a damaged snapshot whose records were compacted away is STORAGE_CORRUPT, not a silent gap', async () => {
    const dir = await tempDir()
    const storage = buildFileStorage(fast(dir))
    await storage.open()
    storage.append([record(1), record(2)])
    await storage.writeSnapshot({ position: 2, data: new Uint8Array([2]) })
    storage.append([record(3)])
    await storage.close()
    const path = join(dir, 'snapshot-0000000000000002.snap')
    const bytes = await readFile(path)
    bytes[25]! ^= 1
    await writeFile(path, bytes)
    const error = await expectLockstepError(buildFileStorage(fast(dir)).open(), 'STORAGE_CORRUPT')
    expect(error.message).toMatch(/the manifest names the snapshot snapshot-0000000000000002\.snap .* checksum/)
  })
})

describe('fileStorage: damage before the tail', () => {
  async function threeSegments(dir: string) {
    const storage = buildFileStorage(fast(dir, { segmentBytes: 256 }))
    await storage.open()
    for (let position = 1; position <= 30; position++) storage.append([record(position, 30)])
    await storage.close()
    const segments = await filesEndingWith(dir, '.log')
    expect(segments.length).toBeGreaterThanOrEqual(3)
    return segments
  }

  it('a bad record in an older segment followed by valid segments is STORAGE_CORRUPT', async () => {
    const dir = await tempDir()
    const segments = await threeSegments(dir)
    const path = join(dir, segments[0]!)
    const bytes = await readFile(path)
    bytes[20 + 46 + 30]! ^= 0xff // inside the second record's data
    await writeFile(path, bytes)
    const error = await expectLockstepError(buildFileStorage(fast(dir, { segmentBytes: 256 })).open(), 'STORAGE_CORRUPT')
    expect(error.message).toContain(segments[0]!)
    expect(error.message).toContain('checksum')
    expect(error.details).toMatchObject({ path: segments[0], offset: 66 })
    // Nothing was changed on disk.
    expect(await filesEndingWith(dir, '.log')).toEqual(segments)
  })

  it("with onCorruptLog: 'truncate' the records before the damage survive and later segments are set aside", async () => {
    const dir = await tempDir()
    const segments = await threeSegments(dir)
    const path = join(dir, segments[0]!)
    const bytes = await readFile(path)
    bytes[20 + 46 + 30]! ^= 0xff
    await writeFile(path, bytes)
    const options = fast(dir, { segmentBytes: 256, onCorruptLog: 'truncate' })
    const { storage, recovered } = await reopen(options)
    expect(plain(recovered.records)).toEqual(plain([record(1, 30)]))
    // The later segments are set aside, and a copy of the damaged one is kept before it is truncated.
    expect((await filesEndingWith(dir, '.corrupt')).length).toBe(segments.length)
    storage.append([record(2, 5)])
    await storage.close()
    const { storage: again, recovered: after } = await reopen(options)
    expect(plain(after.records)).toEqual(plain([record(1, 30), record(2, 5)]))
    await again.close()
  })

  it('a missing middle segment breaks the chain and is STORAGE_CORRUPT', async () => {
    const dir = await tempDir()
    const segments = await threeSegments(dir)
    const { rm } = await import('node:fs/promises')
    await rm(join(dir, segments[1]!))
    const error = await expectLockstepError(buildFileStorage(fast(dir, { segmentBytes: 256 })).open(), 'STORAGE_CORRUPT')
    expect(error.message).toContain('segment starts after position')
  })

  it('a damaged header of the last segment with records after it is STORAGE_CORRUPT', async () => {
    const dir = await tempDir()
    const segments = await threeSegments(dir)
    const path = join(dir, segments.at(-1)!)
    const bytes = await readFile(path)
    bytes[3]! ^= 1
    await writeFile(path, bytes)
    await expectLockstepError(buildFileStorage(fast(dir, { segmentBytes: 256 })).open(), 'STORAGE_CORRUPT')
  })

  it('a record with a valid checksum but a position out of order ends the log; with a valid record after it, that is corruption', async () => {
    const dir = await tempDir()
    // No zeros ahead of the records: the frames added below follow the last record directly.
    const storage = buildFileStorage(fast(dir, { preallocateBytes: 0 }))
    await storage.open()
    storage.append([record(1), record(2)])
    await storage.close()
    const [segment] = await filesEndingWith(dir, '.log')
    const path = join(dir, segment!)
    const bytes = await readFile(path)
    await writeFile(path, new Uint8Array([...bytes, ...encodeFrame(record(2)), ...encodeFrame(record(3))]))
    const error = await expectLockstepError(buildFileStorage(fast(dir)).open(), 'STORAGE_CORRUPT')
    expect(error.details).toMatchObject({ path: segment, offset: bytes.length, reason: 'record position not above the one before' })
    await writeFile(path, new Uint8Array([...bytes, ...encodeFrame(record(2))]))
    const { storage: again, recovered } = await reopen(fast(dir))
    expect(recovered.records.map((r) => r.position)).toEqual([1, 2])
    expect((await readFile(path)).length).toBe(bytes.length)
    again.append([record(3)])
    await again.close()
  })
})

describe('fileStorage: I/O failures', () => {
  it('a failed write stops the storage; the complete records survive a restart', async () => {
    const dir = await tempDir()
    const fs = countingFileSystem()
    const storage = buildFileStorage({ dir, fs })
    await storage.open()
    storage.append([record(1)])
    await storage.sync()
    fs.failWhen = (operation) => (operation === 'write' ? Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' }) : undefined)
    storage.append([record(2)])
    const error = await expectLockstepError(storage.sync(), 'STOPPED')
    expect(error.message).toContain('ENOSPC')
    expect(error.cause).toBeInstanceOf(Error)
    expect(() => storage.append([record(3)])).toThrow(error.message)
    await expectLockstepError(storage.sync(), 'STOPPED')
    await storage.close()
    const { storage: again, recovered } = await reopen(fast(dir))
    expect(recovered.records.map((r) => r.position)).toEqual([1])
    await again.close()
  })

  it('a failed fsync is never retried: the storage stops', async () => {
    const dir = await tempDir()
    const fs = countingFileSystem()
    const storage = buildFileStorage({ dir, fs })
    await storage.open()
    fs.failWhen = (operation) => (operation === 'sync' ? new Error('EIO: i/o error') : undefined)
    storage.append([record(1)])
    await expectLockstepError(storage.sync(), 'STOPPED')
    fs.failWhen = undefined
    await expectLockstepError(storage.sync(), 'STOPPED')
    await storage.close()
  })
})
