import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { FileStorage, FileStorageOptions } from '../src/index'
import { parseSegment } from '../src/wal-format'
import { buildFileStorage, countingFileSystem, filesEndingWith, manualScheduler, plain, record, removeTempDirs, settleIo, tempDir, waitFor, type CountingFileSystem, type TestComponents } from './helpers'

afterEach(removeTempDirs)

async function openStorage(extra: Partial<FileStorageOptions> & TestComponents = {}) {
  const dir = await tempDir()
  const fs = countingFileSystem()
  const storage = buildFileStorage({ dir, fs, ...extra })
  await storage.open()
  // Opening an empty directory creates the first segment: one fsync of its header, one of the directory.
  expect(fs.fileSyncsOf('.log')).toBe(1)
  return { dir, fs, storage, logFsyncs: () => fs.fileSyncsOf('.log') - 1 }
}

/**
 * Simulates the process dying and the machine losing power: nothing more
 * reaches the disk, then every file falls back to what was fsynced.
 */
async function crash(storage: FileStorage, fs: CountingFileSystem): Promise<void> {
  fs.failWhen = () => new Error('the process is gone')
  await storage.close().catch(() => undefined)
  fs.failWhen = undefined
  await fs.powerLoss()
}

async function recoveredPositions(dir: string): Promise<number[]> {
  const storage = buildFileStorage({ dir, fs: countingFileSystem() })
  const { records } = await storage.open()
  await storage.close()
  return records.map((r) => r.position)
}

describe("sync: 'batch'", () => {
  it('every sync() fsyncs the records appended since the last one, once', async () => {
    const { storage, logFsyncs, fs } = await openStorage({ sync: 'batch' })
    const writesAtOpen = fs.counts.writes
    storage.append([record(1), record(2)])
    expect(fs.counts.writes).toBe(writesAtOpen) // buffered until sync()
    await storage.sync()
    expect(logFsyncs()).toBe(1)
    for (let position = 3; position <= 7; position++) {
      storage.append([record(position)])
      await storage.sync()
    }
    expect(logFsyncs()).toBe(6)
    await storage.sync() // nothing new: no fsync
    expect(logFsyncs()).toBe(6)
    expect(storage.stats()).toMatchObject({ appendedRecords: 7, writtenRecords: 7, syncedRecords: 7, logFsyncs: 7 })
    await storage.close()
    expect(logFsyncs()).toBe(6) // close has nothing left to fsync
  })

  it('group commit: many concurrent append+sync pairs share one write and one fsync', async () => {
    const { storage, logFsyncs, fs } = await openStorage({ sync: 'batch' })
    const writesAtOpen = fs.counts.writes
    const acknowledged: number[] = []
    const syncs = Array.from({ length: 200 }, (_, i) => {
      storage.append([record(i + 1, 100)])
      return storage.sync().then(() => acknowledged.push(i + 1))
    })
    await Promise.all(syncs)
    expect(acknowledged).toHaveLength(200)
    expect(logFsyncs()).toBe(1)
    expect(fs.counts.writes - writesAtOpen).toBe(1)
    await storage.close()
  })

  it('appends during an fsync go into the next group, which needs one more fsync', async () => {
    const { storage, logFsyncs } = await openStorage({ sync: 'batch' })
    storage.append([record(1)])
    const first = storage.sync()
    await waitFor(() => storage.stats().writtenRecords === 1) // the first group is on its way
    const later = Array.from({ length: 50 }, (_, i) => {
      storage.append([record(i + 2)])
      return storage.sync()
    })
    await Promise.all([first, ...later])
    expect(logFsyncs()).toBe(2)
    await storage.close()
  })

  it('after a power loss every record whose sync() resolved is there; unsynced ones are not', async () => {
    const { dir, storage, fs } = await openStorage({ sync: 'batch', segmentBytes: 256 })
    for (let position = 1; position <= 20; position++) {
      storage.append([record(position, 30)])
      if (position % 4 === 0) await storage.sync()
    }
    // 17..20 were synced at position 20; 21 and 22 are appended but never synced.
    storage.append([record(21), record(22)])
    await crash(storage, fs)
    expect(await recoveredPositions(dir)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1))
  })
})

describe("sync: 'interval'", () => {
  it('sync() resolves only after the next interval fsync, which covers all records before it', async () => {
    const scheduler = manualScheduler()
    const { storage, logFsyncs } = await openStorage({ sync: 'interval', syncIntervalMs: 100, scheduler })
    const acknowledged: number[] = []
    const syncs = Array.from({ length: 10 }, (_, i) => {
      storage.append([record(i + 1)])
      return storage.sync().then(() => acknowledged.push(i + 1))
    })
    await waitFor(() => storage.stats().writtenRecords === 10) // written to the OS right away
    await settleIo()
    expect(acknowledged).toEqual([])
    expect(logFsyncs()).toBe(0)
    scheduler.advance(99)
    await settleIo()
    expect(logFsyncs()).toBe(0)
    expect(acknowledged).toEqual([])
    scheduler.advance(1)
    await Promise.all(syncs)
    expect(acknowledged).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    expect(logFsyncs()).toBe(1)
    expect(scheduler.pendingTimers()).toBe(0) // idle: no timer
    await storage.close()
  })

  it('fsyncs at most once per interval, and also fsyncs records nobody called sync() for', async () => {
    const scheduler = manualScheduler()
    const { storage, logFsyncs } = await openStorage({ sync: 'interval', syncIntervalMs: 100, scheduler })
    storage.append([record(1)])
    scheduler.advance(100) // tick at t=100
    await waitFor(() => storage.stats().syncedRecords === 1)
    expect(logFsyncs()).toBe(1)
    storage.append([record(2)])
    const second = storage.sync()
    scheduler.advance(50) // t=150: too early, the last tick was at t=100
    await settleIo()
    expect(logFsyncs()).toBe(1)
    scheduler.advance(50) // t=200
    await second
    expect(logFsyncs()).toBe(2)
    await storage.close()
  })

  it('close() fsyncs and resolves the waiting sync() calls', async () => {
    const scheduler = manualScheduler()
    const { dir, storage, logFsyncs } = await openStorage({ sync: 'interval', syncIntervalMs: 1000, scheduler })
    storage.append([record(1), record(2)])
    const pending = storage.sync()
    await waitFor(() => storage.stats().writtenRecords === 2)
    await storage.close()
    await pending
    expect(logFsyncs()).toBe(1)
    expect(scheduler.pendingTimers()).toBe(0)
    expect(await recoveredPositions(dir)).toEqual([1, 2])
  })
})

describe("sync: 'never'", () => {
  it('sync() resolves once the records are written to the OS, with no fsync; close() fsyncs once', async () => {
    const { dir, storage, logFsyncs } = await openStorage({ sync: 'never' })
    for (let position = 1; position <= 10; position++) {
      storage.append([record(position, 10)])
      await storage.sync()
      const [segment] = await filesEndingWith(dir, '.log')
      expect(parseSegment(await readFile(join(dir, segment!))).records.length).toBe(position) // the OS has it
    }
    expect(logFsyncs()).toBe(0)
    expect(storage.stats()).toMatchObject({ writtenRecords: 10, syncedRecords: 0 })
    await storage.close()
    expect(logFsyncs()).toBe(1)
  })

  it('a power loss may take every record written since open', async () => {
    const { dir, storage, fs } = await openStorage({ sync: 'never' })
    storage.append([record(1), record(2)])
    await storage.sync()
    await crash(storage, fs)
    expect(await recoveredPositions(dir)).toEqual([])
  })

  it('segment rollover fsyncs the full segment even under never, so only the last segment can be torn', async () => {
    const { dir, storage, fs } = await openStorage({ sync: 'never', segmentBytes: 256 })
    for (let position = 1; position <= 20; position++) {
      storage.append([record(position, 30)])
      await storage.sync()
    }
    // 46-byte frames, 5 to a 256-byte segment: positions 1..15 fill three segments, 16..20 sit in the fourth.
    expect(storage.stats().segments).toBe(4)
    await crash(storage, fs)
    // The full segments were fsynced at rollover and survive; the last one was never fsynced.
    expect(await recoveredPositions(dir)).toEqual(Array.from({ length: 15 }, (_, i) => i + 1))
  })
})

describe('what a restart returns, whatever the policy', () => {
  it.each(['batch', 'interval', 'never'] as const)('%s: a clean close keeps every appended record', async (sync) => {
    const { dir, storage } = await openStorage({ sync, scheduler: manualScheduler() })
    const records = Array.from({ length: 30 }, (_, i) => record(i + 1, i))
    for (const r of records) storage.append([r])
    await storage.close()
    const again = buildFileStorage({ dir, fs: countingFileSystem() })
    expect(plain((await again.open()).records)).toEqual(plain(records))
    await again.close()
  })
})
