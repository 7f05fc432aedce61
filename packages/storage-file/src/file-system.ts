import { open, readFile, readdir, mkdir, rename, unlink } from 'node:fs/promises'

/** An open file, as the storage uses it. */
export interface StorageFileHandle {
  /** Writes all of `bytes` at byte `position` of the file. */
  write(bytes: Uint8Array, position: number): Promise<void>
  /** fsync: resolves once the file's data and size are on stable storage. */
  sync(): Promise<void>
  /** Cuts the file to `lengthBytes`. */
  truncate(lengthBytes: number): Promise<void>
  close(): Promise<void>
}

/**
 * The file operations the storage performs, so tests can count fsyncs, skip
 * them for speed, or fail an operation to simulate a crash. {@link nodeFileSystem}
 * is the real one.
 */
export interface StorageFileSystem {
  /** Creates the directory and its parents; fine if it exists. */
  mkdir(path: string): Promise<void>
  /** Names of the entries in a directory. */
  readdir(path: string): Promise<string[]>
  readFile(path: string): Promise<Uint8Array>
  /** Opens a file: `r+` read-write existing, `wx` create new (fails if it exists), `w` create or truncate. */
  open(path: string, flags: 'r+' | 'wx' | 'w'): Promise<StorageFileHandle>
  /** Atomically replaces `to` with `from`. */
  rename(from: string, to: string): Promise<void>
  unlink(path: string): Promise<void>
  /** fsyncs a directory, making creations, renames and deletions in it durable. */
  syncDirectory(path: string): Promise<void>
}

/** The real file system (node:fs/promises). */
export function nodeFileSystem(): StorageFileSystem {
  return {
    async mkdir(path) {
      await mkdir(path, { recursive: true })
    },
    readdir: (path) => readdir(path),
    readFile: (path) => readFile(path),
    async open(path, flags) {
      const handle = await open(path, flags)
      return {
        async write(bytes, position) {
          let written = 0
          while (written < bytes.length) {
            const { bytesWritten } = await handle.write(bytes, written, bytes.length - written, position + written)
            written += bytesWritten
          }
        },
        sync: () => handle.sync(),
        truncate: (lengthBytes) => handle.truncate(lengthBytes),
        close: () => handle.close(),
      }
    },
    rename: (from, to) => rename(from, to),
    unlink: (path) => unlink(path),
    async syncDirectory(path) {
      const handle = await open(path, 'r')
      try {
        await handle.sync()
      } finally {
        await handle.close()
      }
    },
  }
}
