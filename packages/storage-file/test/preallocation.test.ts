import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import fc from 'fast-check'
import type { LockstepError, Logger, LogRecord } from '@lockstep/interface'
import { silentLogger } from '@lockstep/interface'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { FileStorageOptions } from '../src/index'
import { planLogRecovery, type FoundSegment } from '../src/recovery-plan'
import { encodeFrame, encodeSegmentHeader, parseSegment, segmentFileName } from '../src/wal-format'
import { buildFileStorage, corruptTail, countingFileSystem, expectRecovery, filesEndingWith, randomRecords, record, removeTempDirs, tempDir, writeDirectory, writeLog } from './helpers'

const HEADER = 20
const FRAME_HEADER = 16
const SEGMENT_BYTES = 256
const PREALLOCATE_BYTES = 64

let dir: string
beforeAll(async () => {
  dir = await tempDir()
})
afterAll(removeTempDirs)

const options = (extra: Partial<FileStorageOptions> = {}): FileStorageOptions => ({
  dir,
  segmentBytes: SEGMENT_BYTES,
  preallocateBytes: PREALLOCATE_BYTES,
  fs: countingFileSystem(),
  ...extra,
})

/** A logger that keeps its warn- and error-level lines. */
function recorder(): Logger & { lines: string[] } {
  const lines: string[] = []
  return { ...silentLogger, lines, warn: (message: string) => void lines.push(message), error: (message: string) => void lines.push(message) } as Logger & { lines: string[] }
}

async function sizeOf(path: string): Promise<number> {
  return (await readFile(path)).length
}

/** Writes `records` through a preallocating storage and returns the directory's files. */
const buildLog = (records: readonly LogRecord[]) => writeLog(dir, options(), records)

interface Layout {
  name: string
  bytes: Uint8Array
  frames: { index: number; start: number; end: number }[]
  /** Where the records end: zeros follow, up to the end of the file. */
  recordsEnd: number
}

/**
 * Where each record sits, from the record sizes and the rollover rule alone (a segment takes records while
 * they fit in SEGMENT_BYTES, and always at least one), not with the parser under test.
 */
function layoutOf(image: Map<string, Uint8Array>, records: readonly LogRecord[]): Layout[] {
  const layouts: Layout[] = []
  let index = 0
  for (const [name, bytes] of [...image].filter(([n]) => n.endsWith('.log'))) {
    const frames: Layout['frames'] = []
    let offset = HEADER
    while (index < records.length) {
      const end = offset + FRAME_HEADER + records[index]!.data.length
      if (frames.length > 0 && end > SEGMENT_BYTES) break
      frames.push({ index, start: offset, end })
      offset = end
      index++
    }
    expect(bytes.length, `${name} holds its records`).toBeGreaterThanOrEqual(offset)
    expect(bytes.subarray(offset).every((b) => b === 0), `${name} after its records`).toBe(true)
    layouts.push({ name, bytes, frames, recordsEnd: offset })
  }
  expect(index).toBe(records.length)
  return layouts
}

/** Recovery of `image` as `expectRecovery` checks it, logging to `logger`. */
const expectRecovered = (image: Map<string, Uint8Array>, expected: readonly LogRecord[], firstLost: LogRecord | undefined, logger = recorder()) =>
  expectRecovery(dir, () => ({ ...options(), logger }), image, expected, firstLost)

describe('preallocated log segments', () => {
  it('a segment is written full of zeros ahead of its records, the file keeps its size while records fit, and a restart reads the zeros as the end of the log', async () => {
    await writeDirectory(dir, new Map())
    const logger = recorder()
    const storage = buildFileStorage({ ...options({ segmentBytes: 4096, preallocateBytes: 1024 }), logger })
    await storage.open()
    const [segment] = await filesEndingWith(dir, '.log')
    const path = join(dir, segment!)
    expect(await sizeOf(path)).toBe(HEADER + 1024)
    // 26-byte frames: 19 of them leave 530 bytes of zeros, more than half of 1024: no new zeros.
    for (let position = 1; position <= 19; position++) {
      storage.append([record(position, 10)])
      await storage.sync()
    }
    expect(await sizeOf(path)).toBe(HEADER + 1024)
    expect(storage.stats()).toMatchObject({ logBytesPreallocated: 1024, logBytesWritten: 19 * 26 })
    // The 20th leaves 504 bytes, less than half: 1024 more.
    storage.append([record(20, 10)])
    await storage.sync()
    expect(await sizeOf(path)).toBe(HEADER + 2048)
    expect(storage.stats().logBytesPreallocated).toBe(2048)
    await storage.close()
    expect(await sizeOf(path)).toBe(HEADER + 2048)

    const again = buildFileStorage({ ...options({ segmentBytes: 4096, preallocateBytes: 1024 }), logger })
    const recovered = await again.open()
    expect(recovered.records.map((r) => r.position)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1))
    again.append([record(21, 10)])
    await again.sync()
    await again.close()
    // Not truncated, not warned about: the zeros are the end of the log, not damage.
    expect(await sizeOf(path)).toBe(HEADER + 2048)
    expect(logger.lines).toEqual([])
    expect(parseSegment(await readFile(path)).records.map((r) => r.position)).toEqual(Array.from({ length: 21 }, (_, i) => i + 1))
  })

  it('never writes zeros past segmentBytes, and none with preallocateBytes: 0', async () => {
    await writeDirectory(dir, new Map())
    const storage = buildFileStorage(options({ segmentBytes: 300, preallocateBytes: 1000 }))
    await storage.open()
    const [segment] = await filesEndingWith(dir, '.log')
    expect(await sizeOf(join(dir, segment!))).toBe(300)
    await storage.close()
    await writeDirectory(dir, new Map())
    const plainStorage = buildFileStorage(options({ preallocateBytes: 0 }))
    await plainStorage.open()
    plainStorage.append([record(1, 10)])
    await plainStorage.close()
    const [unpreallocated] = await filesEndingWith(dir, '.log')
    expect(await sizeOf(join(dir, unpreallocated!))).toBe(HEADER + 26)
    expect(plainStorage.stats().logBytesPreallocated).toBe(0)
  })

  it('a segment written without zeros ahead (an earlier version, or preallocateBytes: 0) opens as it is and gets zeros on its next write', async () => {
    await writeDirectory(dir, new Map())
    const old = buildFileStorage(options({ preallocateBytes: 0 }))
    await old.open()
    old.append([record(1, 10), record(2, 10)])
    await old.close()
    const [segment] = await filesEndingWith(dir, '.log')
    const path = join(dir, segment!)
    expect(await sizeOf(path)).toBe(HEADER + 52)
    const storage = buildFileStorage(options())
    expect((await storage.open()).records.map((r) => r.position)).toEqual([1, 2])
    storage.append([record(3, 10)])
    await storage.sync()
    await storage.close()
    expect(await sizeOf(path)).toBe(HEADER + 78 + PREALLOCATE_BYTES)
  })

  it('rejects a preallocateBytes that is not a whole number of bytes from 0 to 1 GiB, naming the option', () => {
    for (const bad of [-1, 1.5, 2 ** 31, Number.NaN]) {
      expect(() => buildFileStorage(options({ preallocateBytes: bad }))).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG', details: { path: '/preallocateBytes' } }))
    }
  })

  it('a crash leaves zeros where writes did not land: zeros from every byte offset of the last segment on, exactly the complete records survive and appends continue', async () => {
    for (const [seed, count] of [
      [1, 12],
      [2, 9],
    ] as const) {
      const records = randomRecords(seed, count)
      const image = await buildLog(records)
      const layouts = layoutOf(image, records)
      expect(layouts.length).toBeGreaterThanOrEqual(2)
      const last = layouts.at(-1)!
      for (let cut = 0; cut <= last.recordsEnd; cut++) {
        const damaged = new Map(image)
        const bytes = last.bytes.slice()
        bytes.fill(0, cut)
        damaged.set(last.name, bytes)
        const complete = layouts
          .slice(0, -1)
          .flatMap((l) => l.frames)
          .concat(last.frames.filter((f) => f.end <= cut))
        const logger = recorder()
        await expectRecovered(damaged, complete.map((f) => records[f.index]!), records[complete.length], logger)
        // Zeros after the last complete record are the end of the log, nothing to warn about; the first bytes of
        // a record that did land are a torn tail, warned about (a header that did not land is a segment never created).
        if (cut < HEADER) continue
        const completeEnd = last.frames.filter((f) => f.end <= cut).at(-1)?.end ?? HEADER
        if (bytes.subarray(completeEnd).every((b) => b === 0)) expect(logger.lines, `cut at ${cut}`).toEqual([])
        else expect(logger.lines.join('\n'), `cut at ${cut}`).toContain('the log ends early')
      }
    }
  })

  it('anything but zeros after the last record is damage: a torn tail (truncated, and zeros written again) or, with a valid record after it, STORAGE_CORRUPT', async () => {
    let outcomes = { tornTails: 0, corrupt: 0 }
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.integer({ min: 1, max: 14 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }),
        async (seed, count, corruptions) => {
          const records = randomRecords(seed, count)
          const image = await buildLog(records)
          const layouts = layoutOf(image, records)
          const tail = layouts.at(-1)!
          fc.pre(tail.frames.length > 0)
          const bytes = tail.bytes.slice()
          // Anywhere past the header: in the records or in the zeros after them.
          const { offsets, firstBad, survivors } = corruptTail(bytes, corruptions, layouts.slice(0, -1), tail.frames)
          const damaged = new Map(image)
          damaged.set(tail.name, bytes)
          const intactAfter = tail.frames.some((f) => f.start > firstBad && offsets.every((o) => o < f.start || o >= f.end))
          if (!intactAfter) {
            outcomes = { ...outcomes, tornTails: outcomes.tornTails + 1 }
            const logger = recorder()
            await expectRecovered(damaged, survivors.map((f) => records[f.index]!), records[survivors.length], logger)
            expect(logger.lines.join('\n')).toContain('the log ends early')
            return
          }
          outcomes = { ...outcomes, corrupt: outcomes.corrupt + 1 }
          await writeDirectory(dir, damaged)
          const error = await buildFileStorage(options())
            .open()
            .then(() => undefined, (e: LockstepError) => e)
          expect(error?.code).toBe('STORAGE_CORRUPT')
          expect(error?.details).toMatchObject({ path: tail.name })
        },
      ),
      { seed: 20261206, numRuns: 120 },
    )
    expect(outcomes.tornTails).toBeGreaterThan(10)
    expect(outcomes.corrupt).toBeGreaterThan(10)
  })

  it('garbage in the zeros after the last record is cut off: the next record written there does not bring old bytes back', async () => {
    await writeDirectory(dir, new Map())
    const storage = buildFileStorage(options({ segmentBytes: 4096, preallocateBytes: 1024 }))
    await storage.open()
    storage.append([record(1, 10), record(2, 10), record(3, 10)])
    await storage.close()
    const [segment] = await filesEndingWith(dir, '.log')
    const path = join(dir, segment!)
    const bytes = await readFile(path)
    // A crash tore the write of record 3 (its first sectors did not land) after a later write of record 4 landed.
    const end = HEADER + 3 * 26
    bytes.set(encodeFrame(record(4, 10)), end)
    bytes.fill(0, HEADER + 2 * 26, end)
    await writeFile(path, bytes)
    const error = await buildFileStorage(options({ segmentBytes: 4096, preallocateBytes: 1024 }))
      .open()
      .then(() => undefined, (e: LockstepError) => e)
    // A valid record after zeros: not a clean end. Record 4 follows the damage, so it is corruption.
    expect(error?.code).toBe('STORAGE_CORRUPT')
    // Garbage of a torn record, nothing valid after it: truncated, then zeros again past the next record.
    bytes.fill(0, HEADER + 2 * 26)
    bytes.fill(0xab, HEADER + 2 * 26, HEADER + 2 * 26 + 9)
    await writeFile(path, bytes)
    const again = buildFileStorage(options({ segmentBytes: 4096, preallocateBytes: 1024 }))
    expect((await again.open()).records.map((r) => r.position)).toEqual([1, 2])
    expect(await sizeOf(path)).toBe(HEADER + 2 * 26)
    again.append([record(3, 1)])
    await again.sync()
    await again.close()
    expect(await sizeOf(path)).toBe(HEADER + 2 * 26 + 17 + 1024)
    expect(parseSegment(await readFile(path))).toMatchObject({ damage: undefined, validBytes: HEADER + 2 * 26 + 17 })
  })
})

describe('the format and recovery plan with zeros after the records', () => {
  const frames = (prevPosition: number, positions: number[], zeros: number): Uint8Array => {
    const parts = [encodeSegmentHeader(prevPosition), ...positions.map((p) => encodeFrame(record(p, 4))), new Uint8Array(zeros)]
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
    parts.reduce((offset, part) => (out.set(part, offset), offset + part.length), 0)
    return out
  }
  const found = (seq: number, bytes: Uint8Array): FoundSegment => ({ seq, name: segmentFileName(seq), sizeBytes: bytes.length, parsed: parseSegment(bytes), bytes })

  it('zeros after the last frame end the segment cleanly; any other byte there is damage', () => {
    const bytes = frames(0, [1, 2], 100)
    expect(parseSegment(bytes)).toMatchObject({ prevPosition: 0, validBytes: HEADER + 40, dataEnd: HEADER + 40, damage: undefined })
    expect(parseSegment(bytes).records.map((r) => r.position)).toEqual([1, 2])
    bytes[HEADER + 40 + 77] = 1
    expect(parseSegment(bytes).damage).toEqual({ offset: HEADER + 40, reason: 'checksum', validFrameAt: undefined })
    expect(parseSegment(frames(5, [], 64))).toMatchObject({ prevPosition: 5, records: [], validBytes: HEADER, damage: undefined })
    // A header that never landed: the file is all zeros.
    expect(parseSegment(new Uint8Array(64))).toMatchObject({ prevPosition: undefined, dataEnd: 0, damage: { reason: 'header' } })
  })

  it('a later segment holding only its header and zeros holds no records: a torn tail before it is still a tail', () => {
    const torn = frames(0, [1, 2], 0).subarray(0, HEADER + 37)
    const plan = planLogRecovery([found(1, torn), found(2, frames(2, [], 200))], 0, 'fail', '/d')
    expect(plan.records.map((r) => r.position)).toEqual([1])
    expect(plan.truncate).toEqual({ name: segmentFileName(1), lengthBytes: HEADER + 20 })
    expect(plan.remove).toEqual([segmentFileName(2)])
    // One whose header did not land (all zeros) is a segment never created.
    const unborn = planLogRecovery([found(1, frames(0, [1], 50)), found(2, new Uint8Array(200))], 0, 'fail', '/d')
    expect(unborn.remove).toEqual([segmentFileName(2)])
    expect(unborn.chain.map((s) => [s.seq, s.sizeBytes, s.fileBytes])).toEqual([[1, HEADER + 20, HEADER + 20 + 50]])
    // With a record in it, the later segment is data: the damage before it is corruption.
    expect(() => planLogRecovery([found(1, torn), found(2, frames(2, [3], 200))], 0, 'fail', '/d')).toThrow(expect.objectContaining({ code: 'STORAGE_CORRUPT' }))
  })
})

describe('preallocation without room', () => {
  it('zeros that find no room (EFBIG, ENOSPC) are given up for the segment with a warning; the log goes on and keeps its records', async () => {
    await writeDirectory(dir, new Map())
    const fs = countingFileSystem()
    let writes = 0
    // The segment's header is its first write, its zeros the second.
    fs.failWhen = (operation, path) => (operation === 'write' && path.endsWith('.log') && ++writes === 2 ? Object.assign(new Error('EFBIG: file too large, write'), { code: 'EFBIG' }) : undefined)
    const logger = recorder()
    const storage = buildFileStorage({ ...options({ segmentBytes: 4096, preallocateBytes: 1024, fs }), logger })
    await storage.open()
    expect(logger.lines.join('\n')).toContain('no room to write zeros ahead of the log')
    for (let position = 1; position <= 3; position++) {
      storage.append([record(position, 10)])
      await storage.sync()
    }
    expect(storage.stats().logBytesPreallocated).toBe(0)
    await storage.close()
    const [segment] = await filesEndingWith(dir, '.log')
    expect(await sizeOf(join(dir, segment!))).toBe(HEADER + 3 * 26)
    const again = buildFileStorage(options({ segmentBytes: 4096, preallocateBytes: 1024 }))
    expect((await again.open()).records.map((r) => r.position)).toEqual([1, 2, 3])
    await again.close()
  })

  it('any other failure of a zero write stops the storage, as a failed record write does', async () => {
    await writeDirectory(dir, new Map())
    const fs = countingFileSystem()
    let writes = 0
    fs.failWhen = (operation, path) => (operation === 'write' && path.endsWith('.log') && ++writes === 2 ? Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' }) : undefined)
    const error = await buildFileStorage(options({ segmentBytes: 4096, preallocateBytes: 1024, fs }))
      .open()
      .then(() => undefined, (e: LockstepError) => e)
    expect(error?.message).toContain('EIO')
  })
})
