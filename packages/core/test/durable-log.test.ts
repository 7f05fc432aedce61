import { describe, expect, it } from 'vitest'
import type { LogRecord, Recovered, Snapshot, Storage } from '@lockstep/interface'
import { DurableLog } from '../src/host/durable-log'
import { BINARY_RECORD_TAG, decodeLogEntry, decodeSnapshot } from '../src/host/durable-codec'
import type { LazySnapshot } from '../src/engine/engine-types'

/** A disk whose snapshot writes complete only when the test says, and which can crash (keeping only what completed). */
function slowDisk() {
  const appended: LogRecord[] = []
  const done: { records: LogRecord[]; snapshot: Snapshot | undefined } = { records: [], snapshot: undefined }
  const pending: (() => void)[] = []
  const storage: Storage = {
    open: async (): Promise<Recovered> => ({ snapshot: undefined, records: [] }),
    append: (records) => void appended.push(...records),
    sync: async () => void (done.records = appended.filter((r) => r.position > (done.snapshot?.position ?? 0))),
    writeSnapshot: (snapshot) =>
      new Promise<void>((resolve) =>
        pending.push(() => {
          done.snapshot = snapshot
          done.records = done.records.filter((r) => r.position > snapshot.position)
          resolve()
        }),
      ),
    close: async () => {},
  }
  /** What a restart would read: the snapshot and records that completed, in log order. */
  const onDisk = () => ({ snapshot: done.snapshot && decodeSnapshot(done.snapshot.data), entries: done.records.map((r) => decodeLogEntry(r.data)) })
  return { storage, appended, pending, onDisk }
}

const image = (position: number, view = 1): LazySnapshot => ({
  position,
  resume: { view: { id: view, members: ['r1', 'r2', 'r3'] } },
  image: { position, machine: new Uint8Array([position]), sessions: [], orderDigest: '' },
})
/** Lets the event loop turn until `done()` holds (snapshots are produced a piece per turn). */
async function until(done: () => boolean): Promise<void> {
  for (let turns = 0; !done(); turns++) {
    if (turns > 100) throw new Error('gave up waiting')
    await new Promise((resolve) => setImmediate(resolve))
  }
}
const request = (seq: number) => ({ client: 'c', seq, command: { name: 'put' } })

describe('the durable log', () => {
  it('Found 6: a transferred state is written, not skipped, when a periodic snapshot is still being written, and nothing recorded after it reaches the disk before it', async () => {
    const disk = slowDisk()
    const log = new DurableLog(disk.storage)
    await log.open()
    for (let p = 1; p <= 15; p++) log.appendDelivery(p, request(p))
    await log.sync()
    const periodic = log.snapshot(image(15)) // still being written…
    const transfer = log.transferred(image(26, 3)) // … when a state transfer replaces the state at position 26
    log.appendView({ id: 3, members: ['r1', 'r2', 'r3'] }, ['r1', 'r2', 'r3'])
    log.appendDelivery(27, request(27))
    await log.sync()
    // A crash now: the disk replays to position 15 and must not show view 3 or request 27 on top of it.
    expect(disk.onDisk().entries.map((e) => ('request' in e ? e.request.seq : 'view' in e ? `view ${e.view.id}` : 'votes'))).toEqual([...Array.from({ length: 15 }, (_, i) => i + 1)])
    expect(log.durablePosition).toBe(15)
    await until(() => disk.pending.length > 0) // snapshots are produced over the next turns
    disk.pending.shift()!() // the periodic snapshot completes
    await periodic
    await until(() => disk.pending.length > 0)
    disk.pending.shift()!() // then the transferred state's
    await transfer
    await log.sync()
    const after = disk.onDisk()
    expect(after.snapshot?.position).toBe(26)
    expect(after.entries.map((e) => ('request' in e ? e.request.seq : 'view' in e ? `view ${e.view.id}` : 'votes'))).toEqual(['view 3', 27])
    expect(log.durablePosition).toBe(27)
  })

  it('after a transfer replaced the state at a lower position, the disk never reports the dropped order\'s positions as held (world simulator, seed 2014)', async () => {
    const disk = slowDisk()
    const log = new DurableLog(disk.storage)
    await log.open()
    for (let p = 1; p <= 140; p++) log.appendDelivery(p, request(p))
    await log.sync()
    log.appendDelivery(141, request(141))
    log.appendDelivery(142, request(142))
    const syncing = log.sync() // started before the transfer, completes after it
    const transfer = log.transferred(image(136, 10)) // the cluster resumed at 136 from another order
    expect(log.durablePosition).toBe(136)
    await syncing
    expect(log.durablePosition).toBe(136) // 141 and 142 are on the disk, but they are the dropped order's
    log.appendDelivery(137, request(1137)) // the new order's 137 waits for the snapshot
    await log.sync()
    expect(log.durablePosition).toBe(136)
    await until(() => disk.pending.length > 0)
    disk.pending.shift()!()
    await transfer
    await log.sync()
    expect(log.durablePosition).toBe(137)
  })

  it('Found in the backup test: after drain() the records made since a transferred state are on the storage (a clean stop closed it first, and they were lost)', async () => {
    const disk = slowDisk()
    const log = new DurableLog(disk.storage)
    await log.open()
    for (let p = 1; p <= 3; p++) log.appendDelivery(p, request(p))
    const transfer = log.transferred(image(10, 2)) // the state of view 2 at position 10, taken by catch-up
    log.appendDelivery(11, request(11)) // executed after it: waits for the snapshot
    log.appendDelivery(12, request(12))
    const appendedBefore = disk.appended.length
    const drained = log.drain()
    await until(() => disk.pending.length > 0)
    disk.pending.shift()!() // the snapshot is written
    await drained
    // Handed once drain() resolves, not later: the host closes the storage right after it.
    const handed = disk.appended.slice(appendedBefore).map((r) => decodeLogEntry(r.data))
    expect(handed.map((e) => ('request' in e ? e.request.seq : 'other'))).toEqual([11, 12])
    await transfer
    await log.drain() // nothing waits: resolves at once
  })

  it('reads a log written by an earlier version (JSON records) and goes on appending binary records after it', async () => {
    const records: LogRecord[] = [
      { position: 1, data: new TextEncoder().encode(JSON.stringify({ view: { id: 1, members: ['r1', 'r2', 'r3'] }, configuration: ['r1', 'r2', 'r3'] })) },
      { position: 2, data: new TextEncoder().encode(JSON.stringify({ request: request(1), at: 1 })) },
    ]
    const storage: Storage = {
      open: async (): Promise<Recovered> => ({ snapshot: undefined, records: [...records] }),
      append: (more) => void records.push(...more),
      sync: async () => {},
      writeSnapshot: async () => {},
      close: async () => {},
    }
    const before = await new DurableLog(storage).open()
    expect(before.entries).toEqual([{ view: { id: 1, members: ['r1', 'r2', 'r3'] }, configuration: ['r1', 'r2', 'r3'] }, { request: request(1), at: 1 }])
    const log = new DurableLog(storage)
    await log.open()
    log.appendDelivery(2, request(2))
    await log.sync()
    expect(records.map((r) => r.data[0])).toEqual([0x7b, 0x7b, BINARY_RECORD_TAG])
    const after = await new DurableLog(storage).open() // a restart reads both formats, in log order
    expect(after.entries.map((e) => ('request' in e ? e.request.seq : 'view'))).toEqual(['view', 1, 2])
    expect(after.entries[2]).toEqual({ request: request(2), at: 2 })
  })

  it('a vote is durable once a sync that started after it completes', async () => {
    const disk = slowDisk()
    const log = new DurableLog(disk.storage)
    await log.open()
    const vote = log.appendVotes({ instance: 2, promised: { round: 1, coordinator: 'r1' }, accepted: null })
    expect(log.durableRecord).toBeLessThan(vote)
    await log.sync()
    expect(log.durableRecord).toBeGreaterThanOrEqual(vote)
  })
})
