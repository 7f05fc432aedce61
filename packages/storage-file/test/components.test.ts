import { afterEach, describe, expect, it } from 'vitest'
import type { Logger } from '@lockstep/interface'
import { fileStorage, memoryDurableStorage } from '../src/index'
import { countingFileSystem, manualScheduler, record, removeTempDirs, tempDir } from './helpers'

afterEach(removeTempDirs)

function recordingLogger() {
  const lines: { level: string; message: string; fields: Record<string, unknown> | undefined }[] = []
  const at = (level: string) => (message: string, fields?: Record<string, unknown>) => void lines.push({ level, message, fields })
  const log: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
  return { log, lines }
}

describe('storage is built from the components the host passes', () => {
  it('fileStorage logs to the injected logger and runs the interval policy on the injected scheduler', async () => {
    const dir = await tempDir()
    const scheduler = manualScheduler()
    const { log, lines } = recordingLogger()
    const fs = countingFileSystem()
    const storage = fileStorage({ dir, fs, sync: 'interval', syncIntervalMs: 100 })({ self: 'r1', scheduler, log })
    await storage.open()
    expect(lines).toContainEqual(expect.objectContaining({ level: 'info', message: 'storage-file: opened', fields: expect.objectContaining({ dir }) }))

    storage.append([record(1)])
    const synced = storage.sync()
    expect(scheduler.pendingTimers()).toBe(1) // the interval's timer is the injected scheduler's
    scheduler.advance(100)
    await synced
    await storage.close()
  })

  it('one fileStorage configuration checks its options once, before any components are given', () => {
    expect(() => fileStorage({ dir: '' })).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG' }))
  })

  it('memoryDurableStorage logs opens and crashes to the injected logger', async () => {
    const { log, lines } = recordingLogger()
    const storage = memoryDurableStorage()({ self: 'r1', scheduler: manualScheduler(), log })
    await storage.open()
    storage.append([record(1), record(2)])
    storage.crash({ keepUnsynced: 1 })
    expect(lines).toEqual([
      { level: 'debug', message: 'memoryDurableStorage: opened', fields: { snapshotPosition: undefined, records: 0, lastPosition: 0 } },
      { level: 'info', message: 'memoryDurableStorage: crashed', fields: { lostRecords: 1, keptUnsynced: 1 } },
    ])
  })
})
