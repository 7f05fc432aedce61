import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildFileStorage, countingFileSystem, plain, record, removeTempDirs, tempDir, writeDirectory } from './helpers'

let dir: string
beforeAll(async () => {
  dir = await tempDir()
})
afterAll(removeTempDirs)

const records = Array.from({ length: 20 }, (_, i) => record(i + 1, 30))

/**
 * Crashes at each file operation of a snapshot write and its compaction in
 * turn (the operation fails, then power is lost), and checks that the replica
 * always recovers a consistent state: the old snapshot with every record after
 * it, or the new one with every record after it. Never STORAGE_CORRUPT.
 */
describe('a crash at any step of writeSnapshot and compaction', () => {
  it.each([
    ['a snapshot in the middle of the log (some segments deleted)', 12],
    ['a snapshot covering the whole log (every segment replaced)', 20],
  ])('%s', async (_label, snapshotPosition) => {
    let completed = false
    let crashPoints = 0
    for (let failAt = 1; !completed; failAt++) {
      crashPoints = failAt - 1
      expect(failAt, 'the snapshot write never completed').toBeLessThan(100)
      await writeDirectory(dir, new Map())
      const fs = countingFileSystem()
      const storage = buildFileStorage({ dir, fs, segmentBytes: 256 })
      await storage.open()
      storage.append(records.slice(0, 5))
      await storage.writeSnapshot({ position: 5, data: new Uint8Array([5]) })
      storage.append(records.slice(5))
      await storage.sync()

      let operations = 0
      fs.failWhen = () => (++operations === failAt ? new Error(`crash at operation ${failAt}`) : undefined)
      completed = await storage.writeSnapshot({ position: snapshotPosition, data: new Uint8Array([snapshotPosition]) }).then(
        () => true,
        () => false,
      )
      fs.failWhen = () => new Error('the process is gone')
      await storage.close().catch(() => undefined)
      fs.failWhen = undefined
      await fs.powerLoss()

      const again = buildFileStorage({ dir, fs: countingFileSystem(), segmentBytes: 256 })
      const recovered = await again.open()
      const base = recovered.snapshot?.position
      expect([5, snapshotPosition], `snapshot after a crash at operation ${failAt}`).toContain(base)
      if (completed) expect(base).toBe(snapshotPosition)
      expect(recovered.snapshot?.data).toEqual(new Uint8Array([base!]))
      expect(plain(recovered.records), `records after a crash at operation ${failAt}`).toEqual(plain(records.filter((r) => r.position > base!)))
      again.append([record(21)])
      await again.close()
    }
    // Temp file open, write, fsync, rename, directory fsync, then the compaction's deletions and (when the whole log is covered) a new segment.
    expect(crashPoints).toBeGreaterThanOrEqual(snapshotPosition === 20 ? 11 : 7)
  })
})
