import fc from 'fast-check'
import type { LockstepError, LogRecord } from '@lockstep/interface'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { FileStorageOptions } from '../src/index'
import { buildFileStorage, corruptTail, countingFileSystem, expectRecovery, plain, randomRecords, readDirectory, removeTempDirs, tempDir, writeDirectory, writeLog } from './helpers'

const SEGMENT_BYTES = 256
const HEADER = 20
const FRAME_HEADER = 16

let dir: string
beforeAll(async () => {
  dir = await tempDir()
})
afterAll(removeTempDirs)

// Segments without zeros ahead of their records (as earlier versions wrote them), so that a file's size is where
// its records end and a crash cuts it short; preallocated segments: preallocation.test.ts.
const options = (extra: Partial<FileStorageOptions> = {}): FileStorageOptions => ({ dir, segmentBytes: SEGMENT_BYTES, preallocateBytes: 0, fs: countingFileSystem(), ...extra })

/** Writes `records` through the storage and returns the directory's files. */
const buildLog = (records: readonly LogRecord[]) => writeLog(dir, options(), records)

interface Layout {
  name: string
  bytes: Uint8Array
  /** Indexes (into the record list) of the records this segment holds, with the byte offset where each frame ends. */
  frames: { index: number; start: number; end: number }[]
}

/** Where each record sits, computed from the file sizes and the record sizes alone (not with the parser under test). */
function layoutOf(image: Map<string, Uint8Array>, records: readonly LogRecord[]): Layout[] {
  const layouts: Layout[] = []
  let index = 0
  for (const [name, bytes] of [...image].filter(([n]) => n.endsWith('.log'))) {
    const frames: Layout['frames'] = []
    let offset = HEADER
    while (index < records.length && offset + FRAME_HEADER + records[index]!.data.length <= bytes.length) {
      const end = offset + FRAME_HEADER + records[index]!.data.length
      frames.push({ index, start: offset, end })
      offset = end
      index++
    }
    expect(offset, `layout of ${name}`).toBe(bytes.length)
    layouts.push({ name, bytes, frames })
  }
  expect(index).toBe(records.length)
  return layouts
}

/**
 * Opens the damaged image and checks what comes back and that the damaged tail was cut off on disk; then appends
 * one record after it and checks a second restart (see `expectRecovery`).
 */
async function expectTruncated(image: Map<string, Uint8Array>, expected: readonly LogRecord[], firstLost: LogRecord | undefined): Promise<void> {
  await expectRecovery(dir, options, image, expected, firstLost, async () => {
    const segments = [...(await readDirectory(dir))].filter(([name]) => name.endsWith('.log'))
    const onDisk = segments.reduce((n, [, bytes]) => n + bytes.length, 0)
    expect(onDisk, 'segment bytes after recovery').toBe(HEADER * segments.length + expected.reduce((n, r) => n + FRAME_HEADER + r.data.length, 0))
  })
}

describe('torn-tail recovery', () => {
  it.each([
    [1, 12],
    [2, 9],
  ])('cut at every byte offset of a multi-segment log (seed %i, %i records): exactly the complete records survive and appends continue', async (seed, count) => {
    const records = randomRecords(seed, count)
    const image = await buildLog(records)
    const layouts = layoutOf(image, records)
    expect(layouts.length).toBeGreaterThanOrEqual(2)
    let cuts = 0
    for (const [k, layout] of layouts.entries()) {
      for (let cut = 0; cut < layout.bytes.length + (k === layouts.length - 1 ? 1 : 0); cut++) {
        // A crash tears only the last segment: rollover fsyncs a full segment before starting the next.
        const damaged = new Map([...image].filter(([name]) => !name.endsWith('.log')))
        for (const earlier of layouts.slice(0, k)) damaged.set(earlier.name, earlier.bytes)
        damaged.set(layout.name, layout.bytes.subarray(0, cut))
        const complete = layouts.slice(0, k).flatMap((l) => l.frames).concat(layout.frames.filter((f) => f.end <= cut))
        await expectTruncated(damaged, complete.map((f) => records[f.index]!), records[complete.length])
        cuts++
      }
    }
    expect(cuts).toBe(layouts.reduce((n, l) => n + l.bytes.length, 0) + 1)
  })

  it('corrupt random bytes in the tail: with nothing valid after the first bad record it is a torn tail (truncated); with a valid record after it, STORAGE_CORRUPT', async () => {
    let outcomes = { tornTails: 0, corrupt: 0 }
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.integer({ min: 1, max: 14 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }),
        fc.boolean(),
        async (seed, count, corruptions, alsoCut) => {
          const records = randomRecords(seed, count)
          const image = await buildLog(records)
          const layouts = layoutOf(image, records)
          const tail = layouts.at(-1)!
          fc.pre(tail.frames.length > 0)
          const bytes = tail.bytes.slice()
          const { offsets, firstBad, survivors } = corruptTail(bytes, corruptions, layouts.slice(0, -1), tail.frames)
          const cutAt = alsoCut ? firstBad + 1 + ((seed >>> 3) % (bytes.length - firstBad)) : bytes.length
          const damaged = new Map(image)
          damaged.set(tail.name, bytes.subarray(0, cutAt))
          // A frame after the first damaged one that no corruption touched and the cut left whole.
          const intactAfter = tail.frames.some((f) => f.start > firstBad && f.end <= cutAt && offsets.every((o) => o < f.start || o >= f.end))
          if (!intactAfter) {
            outcomes = { ...outcomes, tornTails: outcomes.tornTails + 1 }
            await expectTruncated(damaged, survivors.map((f) => records[f.index]!), records[survivors.length])
            return
          }
          outcomes = { ...outcomes, corrupt: outcomes.corrupt + 1 }
          await writeDirectory(dir, damaged)
          const error = await buildFileStorage(options())
            .open()
            .then(() => undefined, (e: LockstepError) => e)
          expect(error?.code).toBe('STORAGE_CORRUPT')
          expect(error?.details).toMatchObject({ path: tail.name })
          const storage = buildFileStorage(options({ onCorruptLog: 'truncate' }))
          expect(plain((await storage.open()).records)).toEqual(plain(survivors.map((f) => records[f.index]!)))
          await storage.close()
        },
      ),
      { seed: 20260125, numRuns: 120 },
    )
    // Both outcomes were exercised.
    expect(outcomes.tornTails).toBeGreaterThan(10)
    expect(outcomes.corrupt).toBeGreaterThan(10)
  })

  it('damage in an older segment is never mistaken for a tail: STORAGE_CORRUPT, or with truncate exactly the records before it', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 1_000_000 }), fc.nat(), fc.integer({ min: 1, max: 255 }), async (seed, at, xor) => {
        const records = randomRecords(seed, 14)
        const image = await buildLog(records)
        const layouts = layoutOf(image, records)
        const withLaterRecords = layouts.filter((l, k) => l.frames.length > 0 && layouts.slice(k + 1).some((later) => later.frames.length > 0))
        fc.pre(withLaterRecords.length > 0)
        const victim = withLaterRecords[at % withLaterRecords.length]!
        const bytes = victim.bytes.slice()
        const offset = HEADER + (Math.floor(at / withLaterRecords.length) % (bytes.length - HEADER))
        bytes[offset]! ^= xor
        const damaged = new Map(image)
        damaged.set(victim.name, bytes)
        await writeDirectory(dir, damaged)
        const error = await buildFileStorage(options())
          .open()
          .then(() => undefined, (e: LockstepError) => e)
        expect(error?.code).toBe('STORAGE_CORRUPT')
        expect(error?.message).toContain(victim.name)

        const survivors = layouts
          .slice(0, layouts.indexOf(victim))
          .flatMap((l) => l.frames)
          .concat(victim.frames.filter((f) => f.end <= offset))
          .map((f) => records[f.index]!)
        const storage = buildFileStorage(options({ onCorruptLog: 'truncate' }))
        const recovered = await storage.open()
        expect(plain(recovered.records)).toEqual(plain(survivors))
        await storage.close()
      }),
      { seed: 99, numRuns: 40 },
    )
  })
})
