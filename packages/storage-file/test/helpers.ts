import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { realScheduler, silentLogger } from '@lockstep/interface'
import { expect } from 'vitest'
import type { Logger, LogRecord, Scheduler, TimerHandle } from '@lockstep/interface'
import { fileStorage, memoryDurableStorage, nodeFileSystem, type FileStorage, type FileStorageOptions, type MemoryDurableStorage, type StorageFileHandle, type StorageFileSystem } from '../src/index'

/** The components a test injects; a host would pass its own. */
export interface TestComponents {
  /** Default: the real scheduler. */
  readonly scheduler?: Scheduler
  /** Default: silent. */
  readonly logger?: Logger
}

export function components({ scheduler, logger }: TestComponents = {}) {
  return { self: 'r1', scheduler: scheduler ?? realScheduler(), log: logger ?? silentLogger }
}

/** Builds a file storage the way a host does: `fileStorage(options)` with `{ self, scheduler, log }`. */
export function buildFileStorage(options: FileStorageOptions & TestComponents): FileStorage {
  const { scheduler, logger, ...init } = options
  return fileStorage(init)(components({ scheduler, logger }))
}

/** Builds a memory durable storage the way a host does. */
export function buildMemoryDurableStorage(injected: TestComponents = {}): MemoryDurableStorage {
  return memoryDurableStorage()(components(injected))
}

const created: string[] = []

/** A fresh directory under the OS temp dir; removed by {@link removeTempDirs}. */
export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'lockstep-storage-file-'))
  created.push(dir)
  return dir
}

/** Removes every directory {@link tempDir} created (call in afterEach/afterAll). */
export async function removeTempDirs(): Promise<void> {
  for (const dir of created.splice(0)) await rm(dir, { recursive: true, force: true })
}

/** mulberry32: a small seeded PRNG so tests are reproducible. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A record whose data is `length` bytes derived from its position. */
export function record(position: number, length = 8): LogRecord {
  const data = new Uint8Array(length)
  for (let i = 0; i < length; i++) data[i] = (position * 31 + i * 7) & 0xff
  return { position, data }
}

/** `count` records with seeded gaps between their positions (1 to 3) and lengths (0 to 40 bytes). */
export function randomRecords(seed: number, count: number): LogRecord[] {
  const random = seededRandom(seed)
  let position = 0
  return Array.from({ length: count }, () => {
    position += 1 + Math.floor(random() * 3)
    return record(position, Math.floor(random() * 41))
  })
}

/** Empties `dir`, writes `records` through a storage of `options` (a sync after every third position) and returns the files. */
export async function writeLog(dir: string, options: FileStorageOptions & TestComponents, records: readonly LogRecord[]): Promise<Map<string, Uint8Array>> {
  await writeDirectory(dir, new Map())
  const storage = buildFileStorage(options)
  await storage.open()
  for (const r of records) {
    storage.append([r])
    if (r.position % 3 === 0) await storage.sync()
  }
  await storage.close()
  return readDirectory(dir)
}

/**
 * Restores `image` into `dir`, opens it with `options` and checks that exactly `expected` comes back (then runs
 * `afterOpen`); appends one record and checks a second restart. The appended record has the length of the first
 * lost one: old frames after it, were any left, would line up and come back.
 */
export async function expectRecovery(
  dir: string,
  options: () => FileStorageOptions & TestComponents,
  image: Map<string, Uint8Array>,
  expected: readonly LogRecord[],
  firstLost: LogRecord | undefined,
  afterOpen: () => Promise<void> = async () => {},
): Promise<void> {
  await writeDirectory(dir, image)
  const storage = buildFileStorage(options())
  const recovered = await storage.open()
  expect(plain(recovered.records)).toEqual(plain(expected))
  await afterOpen()
  const next = record((expected.at(-1)?.position ?? 0) + 1, firstLost?.data.length ?? 3)
  storage.append([next])
  await storage.sync()
  await storage.close()
  const again = buildFileStorage(options())
  expect(plain((await again.open()).records)).toEqual(plain([...expected, next]))
  await again.close()
}

/** Where a record's frame sits in a segment file: its index in the records written, its first byte and one past its last. */
export interface FramePlace {
  readonly index: number
  readonly start: number
  readonly end: number
}

/**
 * Damages the last segment of a log: `corruptions` ([at, xor]) each XOR one byte of `bytes` (in place) past the
 * 20-byte segment header. Returns the offsets damaged, the first of them, and the frames that survive it (every
 * frame of the earlier segments `before`, and the last segment's `frames` that end before the first damage).
 */
export function corruptTail(bytes: Uint8Array, corruptions: readonly (readonly [number, number])[], before: readonly { readonly frames: readonly FramePlace[] }[], frames: readonly FramePlace[]): { offsets: number[]; firstBad: number; survivors: FramePlace[] } {
  const offsets = corruptions.map(([at, xor]) => {
    const offset = 20 + (at % (bytes.length - 20))
    bytes[offset]! ^= xor
    return offset
  })
  const firstBad = Math.min(...offsets)
  const survivors = before.flatMap((l) => l.frames).concat(frames.filter((f) => f.end <= firstBad))
  return { offsets, firstBad, survivors }
}

/** Plain, comparable form of records. */
export function plain(records: readonly LogRecord[]): { position: number; data: number[] }[] {
  return records.map((r) => ({ position: r.position, data: [...r.data] }))
}

/** Names in `dir` matching a suffix, sorted. */
export async function filesEndingWith(dir: string, suffix: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.endsWith(suffix)).sort()
}

/** The contents of every file in `dir` (a crash image to restore later). */
export async function readDirectory(dir: string): Promise<Map<string, Uint8Array>> {
  const image = new Map<string, Uint8Array>()
  for (const name of (await readdir(dir)).sort()) image.set(name, new Uint8Array(await readFile(join(dir, name))))
  return image
}

/** Replaces the contents of `dir` with `image`. */
export async function writeDirectory(dir: string, image: ReadonlyMap<string, Uint8Array>): Promise<void> {
  for (const name of await readdir(dir)) await rm(join(dir, name), { force: true, recursive: true })
  for (const [name, bytes] of image) await writeFile(join(dir, name), bytes)
}

/** Counts of what went through a {@link CountingFileSystem}. */
export interface FileSystemCounts {
  /** fsyncs per file name. */
  fileSyncs: Map<string, number>
  directorySyncs: number
  writes: number
}

/** A file system that counts operations, can skip real fsyncs (speed) and can fail chosen operations. */
export interface CountingFileSystem extends StorageFileSystem {
  readonly counts: FileSystemCounts
  /** fsyncs of files whose name ends with `suffix`. */
  fileSyncsOf(suffix: string): number
  /** Return an error to make that operation fail. */
  failWhen: ((operation: string, path: string) => Error | undefined) | undefined
  /**
   * Worst-case power loss: every file back to its contents at its last fsync (bytes written since are lost,
   * whether they grew the file or overwrote bytes it held, such as the zeros of a preallocated segment); drop
   * files created since the last directory fsync.
   */
  powerLoss(): Promise<void>
}

/** Wraps the real file system. `realFsync: false` counts fsyncs without doing them. */
export function countingFileSystem(options: { realFsync?: boolean } = {}): CountingFileSystem {
  const inner = nodeFileSystem()
  const counts: FileSystemCounts = { fileSyncs: new Map(), directorySyncs: 0, writes: 0 }
  /** Per path: the contents known durable (at its last fsync). */
  const durable = new Map<string, Uint8Array>()
  /** Paths created since the directory was last fsynced. */
  const createdSinceDirectorySync = new Set<string>()
  const check = (operation: string, path: string) => {
    const error = fs.failWhen?.(operation, path)
    if (error !== undefined) throw error
  }
  const fs: CountingFileSystem = {
    counts,
    failWhen: undefined,
    fileSyncsOf: (suffix) => [...counts.fileSyncs].filter(([name]) => name.endsWith(suffix)).reduce((sum, [, n]) => sum + n, 0),
    mkdir: (path) => inner.mkdir(path),
    readdir: (path) => inner.readdir(path),
    readFile: (path) => inner.readFile(path),
    async open(path, flags) {
      check('open', path)
      const handle: StorageFileHandle = await inner.open(path, flags)
      if (flags !== 'r+') {
        createdSinceDirectorySync.add(path)
        durable.set(path, new Uint8Array())
      } else if (!durable.has(path)) {
        durable.set(path, await inner.readFile(path))
      }
      return {
        async write(bytes, position) {
          check('write', path)
          counts.writes++
          await handle.write(bytes, position)
        },
        async sync() {
          check('sync', path)
          counts.fileSyncs.set(basename(path), (counts.fileSyncs.get(basename(path)) ?? 0) + 1)
          if (options.realFsync === true) await handle.sync()
          durable.set(path, await inner.readFile(path))
        },
        async truncate(lengthBytes) {
          check('truncate', path)
          await handle.truncate(lengthBytes)
        },
        close: () => handle.close(),
      }
    },
    async rename(from, to) {
      check('rename', from)
      await inner.rename(from, to)
      if (durable.has(from)) durable.set(to, durable.get(from)!)
      durable.delete(from)
      createdSinceDirectorySync.add(to)
    },
    async unlink(path) {
      check('unlink', path)
      await inner.unlink(path)
      durable.delete(path)
      createdSinceDirectorySync.delete(path)
    },
    async syncDirectory(path) {
      check('syncDirectory', path)
      counts.directorySyncs++
      if (options.realFsync === true) await inner.syncDirectory(path)
      createdSinceDirectorySync.clear()
    },
    async powerLoss() {
      for (const path of createdSinceDirectorySync) await rm(path, { force: true })
      for (const [path, contents] of durable) {
        if (createdSinceDirectorySync.has(path)) continue
        const bytes = await readFile(path).catch(() => undefined)
        if (bytes !== undefined && !Buffer.from(bytes).equals(contents)) await writeFile(path, contents)
      }
      createdSinceDirectorySync.clear()
    },
  }
  return fs
}

/** A scheduler on manual virtual time: `advance(ms)` fires the timers that fall due. */
export interface ManualScheduler extends Scheduler {
  advance(ms: number): void
  pendingTimers(): number
}

/** Creates a {@link ManualScheduler} at time 0. */
export function manualScheduler(): ManualScheduler {
  let nowMs = 0
  let nextId = 1
  const timers = new Map<number, { atMs: number; fn: () => void }>()
  return {
    now: () => nowMs,
    setTimer(delayMs, fn): TimerHandle {
      const id = nextId++
      timers.set(id, { atMs: nowMs + delayMs, fn })
      return id
    },
    clearTimer: (handle) => void timers.delete(handle as number),
    defer: (fn) => queueMicrotask(fn),
    advance(ms) {
      const until = nowMs + ms
      for (;;) {
        const due = [...timers].filter(([, t]) => t.atMs <= until).sort((a, b) => a[1].atMs - b[1].atMs || a[0] - b[0])[0]
        if (due === undefined) break
        timers.delete(due[0])
        nowMs = due[1].atMs
        due[1].fn()
      }
      nowMs = until
    },
    pendingTimers: () => timers.size,
  }
}

/** Lets pending I/O callbacks and promise chains run (event-loop turns, not wall-clock time). */
export async function settleIo(turns = 20): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => setImmediate(resolve))
}

/** Runs event-loop turns until `condition` holds (fails after `maxTurns`): waits for I/O without reading the clock. */
export async function waitFor(condition: () => boolean, maxTurns = 100_000): Promise<void> {
  for (let turn = 0; turn < maxTurns; turn++) {
    if (condition()) return
    await new Promise<void>((resolve) => setImmediate(resolve))
  }
  throw new Error('waitFor: condition never held')
}
