import { describe, expect, it } from 'vitest'
import { memoryDurableStorage } from '../src'
import { buildMemoryDurableStorage, components, plain, record } from './helpers'

describe('memoryDurableStorage', () => {
  it('keeps synced records across a crash and loses the unsynced ones', async () => {
    const storage = buildMemoryDurableStorage()
    expect(await storage.open()).toEqual({ snapshot: undefined, records: [] })
    storage.append([record(1), record(2)])
    await storage.sync()
    storage.append([record(3)])
    storage.crash()
    expect(storage.stats()).toMatchObject({ appendedRecords: 3, lostRecords: 1, crashes: 1 })
    const recovered = await storage.open()
    expect(plain(recovered.records)).toEqual(plain([record(1), record(2)]))
    storage.append([record(3, 4)])
    await storage.sync()
    expect(plain(storage.durable().records)).toEqual(plain([record(1), record(2), record(3, 4)]))
  })

  it('a sync() still in flight when the crash comes rejects with STOPPED and covers nothing', async () => {
    const storage = buildMemoryDurableStorage()
    await storage.open()
    storage.append([record(1)])
    const pending = storage.sync()
    storage.crash()
    await expect(pending).rejects.toMatchObject({ code: 'STOPPED' })
    expect(storage.durable().records).toEqual([])
  })

  it('a full disk refuses every write; room made before any write refused leaves the storage as it was', async () => {
    const storage = await withRecordOneSynced()
    storage.fill()
    storage.makeRoom()
    storage.append([record(2)])
    await storage.sync()
    expect(storage.durable().records.map((r) => r.position)).toEqual([1, 2])
  })

  it('a storage that refused a write on a full disk stays stopped when room is made, until it is opened again', async () => {
    const storage = await withRecordOneSynced()
    storage.append([record(2)])
    storage.fill()
    expect(() => storage.append([record(3)])).toThrow(/ENOSPC/)
    storage.makeRoom()
    expect(() => storage.append([record(3)])).toThrow(/ENOSPC/)
    await expect(storage.sync()).rejects.toMatchObject({ code: 'STOPPED' })
    // The process stops on it; its restart reopens the disk: what was synced is there, the rest went with the process.
    storage.crash()
    expect((await storage.open()).records.map((r) => r.position)).toEqual([1])
    storage.append([record(2, 5)])
    await storage.sync()
    expect(storage.durable().records.map((r) => r.position)).toEqual([1, 2])
  })

  it("with failsFirst 'write', appends are taken until a sync writes to the full disk; from then on they throw too", async () => {
    const storage = await withRecordOneSynced()
    storage.fill({ failsFirst: 'write' })
    storage.append([record(2)])
    await expect(storage.sync()).rejects.toThrow(/ENOSPC/)
    expect(() => storage.append([record(3)])).toThrow(/ENOSPC/)
    storage.makeRoom()
    expect(() => storage.append([record(3)])).toThrow(/ENOSPC/)
    storage.crash()
    expect((await storage.open()).records.map((r) => r.position)).toEqual([1])
  })

  it('a close on a full disk loses what was not synced: it rejects when its final write is refused, and the rest stays', async () => {
    const storage = await withRecordOneSynced()
    storage.fill({ failsFirst: 'write' })
    storage.append([record(2)])
    await expect(storage.close()).rejects.toThrow(/ENOSPC/)
    expect((await storage.open()).records.map((r) => r.position)).toEqual([1])
    // A storage that stopped on a refused write closes without trying again.
    storage.append([record(2)])
    storage.fill()
    expect(() => storage.append([record(3)])).toThrow(/ENOSPC/)
    await storage.close()
    expect((await storage.open()).records.map((r) => r.position)).toEqual([1])
    expect(storage.stats().lostRecords).toBe(2)
  })

  it('keepUnsynced models an OS that flushed a prefix of the unsynced records', async () => {
    const storage = buildMemoryDurableStorage()
    await storage.open()
    storage.append([record(1), record(2), record(3)])
    storage.crash({ keepUnsynced: 2 })
    expect((await storage.open()).records.map((r) => r.position)).toEqual([1, 2])
  })

  it('loseSynced models a disk that acknowledged syncs it did not keep: the last records go, synced or not, the snapshot stays', async () => {
    const storage = buildMemoryDurableStorage()
    await storage.open()
    storage.append([record(1), record(2)])
    await storage.writeSnapshot({ position: 2, data: new Uint8Array([2]) })
    storage.append([record(3), record(4), record(5)])
    await storage.sync()
    storage.append([record(6)])
    expect(storage.durablePosition()).toBe(5) // synced: 3, 4, 5; 6 is not
    storage.crash({ keepUnsynced: 1, loseSynced: 2 })
    expect(storage.durablePosition()).toBe(4)
    const recovered = await storage.open()
    expect(recovered.records.map((r) => r.position)).toEqual([3, 4])
    expect(recovered.snapshot?.position).toBe(2)
    storage.append([record(5)]) // the log goes on from where it now ends
    storage.crash({ loseSynced: 10 })
    expect(storage.durablePosition()).toBe(2) // the snapshot's
    expect((await storage.open()).records).toEqual([])
    expect(storage.stats().lostRecords).toBe(2 + 3)
  })

  it('a snapshot is durable at once and drops the records it covers, synced or not', async () => {
    const storage = buildMemoryDurableStorage()
    await storage.open()
    storage.append([record(1), record(2)])
    await storage.sync()
    storage.append([record(3), record(4)])
    await storage.writeSnapshot({ position: 3, data: new Uint8Array([3]) })
    storage.crash()
    const recovered = await storage.open()
    expect(recovered.snapshot).toEqual({ position: 3, data: new Uint8Array([3]) })
    expect(recovered.records).toEqual([])
    expect(() => storage.append([record(3)])).toThrow(/not above 3/)
  })

  it('close() makes everything durable; reopening needs a close or crash first', async () => {
    const storage = buildMemoryDurableStorage()
    await storage.open()
    await expect(storage.open()).rejects.toMatchObject({ code: 'INTERNAL' })
    storage.append([record(1)])
    await storage.close()
    expect(() => storage.append([record(2)])).toThrow(expect.objectContaining({ code: 'STOPPED' }))
    expect((await storage.open()).records.map((r) => r.position)).toEqual([1])
  })

  it('copies data, so later changes to the caller buffers do not reach the durable state', async () => {
    const storage = buildMemoryDurableStorage()
    await storage.open()
    const data = new Uint8Array([1, 2, 3])
    storage.append([{ position: 1, data }])
    await storage.sync()
    data[0] = 99
    expect([...storage.durable().records[0]!.data]).toEqual([1, 2, 3])
  })

  it('checks positions like the file storage', async () => {
    const storage = buildMemoryDurableStorage()
    await storage.open()
    storage.append([record(2)])
    expect(() => storage.append([record(2)])).toThrow(expect.objectContaining({ code: 'INTERNAL' }))
    await expect(storage.writeSnapshot({ position: -1, data: new Uint8Array() })).rejects.toMatchObject({ code: 'INTERNAL' })
  })

  describe('with a sync latency', () => {
    /** A hand-driven clock: timers fire only when the test advances it. */
    function manualScheduler() {
      let now = 0
      const timers: { at: number; fn: () => void }[] = []
      return {
        setTimer: (delayMs: number, fn: () => void) => timers.push({ at: now + delayMs, fn }),
        async advance(ms: number) {
          now += ms
          for (const timer of timers.filter((t) => t.at <= now)) {
            timers.splice(timers.indexOf(timer), 1)
            timer.fn()
          }
          for (let i = 0; i < 5; i++) await Promise.resolve()
        },
      }
    }

    it('a sync completes only after its latency, and a crash before then loses what it covered', async () => {
      const scheduler = manualScheduler()
      const latencies = [3, 2]
      const storage = memoryDurableStorage({ scheduler, syncLatencyMs: () => latencies.shift()! })(components())
      await storage.open()
      storage.append([record(1)])
      let synced = false
      const first = storage.sync().then(() => (synced = true))
      await scheduler.advance(2)
      expect(synced).toBe(false)
      expect(storage.durable().records).toEqual([])
      await scheduler.advance(1)
      expect(synced).toBe(true)
      await first
      expect(storage.durable().records.map((r) => r.position)).toEqual([1])

      storage.append([record(2)])
      const pending = storage.sync()
      await scheduler.advance(1)
      storage.crash()
      await scheduler.advance(5)
      await expect(pending).rejects.toMatchObject({ code: 'STOPPED' })
      expect((await storage.open()).records.map((r) => r.position)).toEqual([1])
    })

    it('latency 0 behaves as before', async () => {
      const storage = memoryDurableStorage({ syncLatencyMs: 0 })(components())
      await storage.open()
      storage.append([record(1)])
      await storage.sync()
      expect(storage.durable().records.map((r) => r.position)).toEqual([1])
    })
  })
})

/** An open storage holding record 1, synced. */
async function withRecordOneSynced(): Promise<ReturnType<typeof buildMemoryDurableStorage>> {
  const storage = buildMemoryDurableStorage()
  await storage.open()
  storage.append([record(1)])
  await storage.sync()
  return storage
}
