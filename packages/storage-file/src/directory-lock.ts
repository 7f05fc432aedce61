import { hostname } from 'node:os'
import { join, resolve } from 'node:path'
import { ErrorCodes, LockstepError, type Logger } from '@lockstep/interface'
import type { StorageFileSystem } from './file-system'

/** Name of the lock file inside a storage directory. */
export const LOCK_FILE_NAME = 'LOCK'

/** How long an empty lock file must stay empty before it counts as left by a crash. */
const UNREADABLE_LOCK_WAIT_MS = 100

/** Directories this process holds, so a second storage in the same process is refused too. */
const heldByThisProcess = new Set<string>()

/** Whether process `pid` on this host is alive (EPERM: alive, owned by someone else). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Releases a held lock. */
export type ReleaseLock = () => Promise<void>

/**
 * Takes the directory's lock file (created with O_EXCL, holding `pid` and host
 * name, fsynced). A lock left by a dead process on this host, or one still
 * empty after a pause (its creator crashed before writing it), is taken over;
 * one held by a live process, by another storage in this process, or by a
 * process on another host is refused.
 */
export async function acquireDirectoryLock(fs: StorageFileSystem, dir: string, logger: Logger, isAlive: (pid: number) => boolean = isProcessAlive): Promise<ReleaseLock> {
  const key = resolve(dir)
  const path = join(dir, LOCK_FILE_NAME)
  if (heldByThisProcess.has(key)) {
    throw new LockstepError(ErrorCodes.INVALID_CONFIG, `Storage directory ${dir} is already open in this process. Give each replica its own directory, or close the other storage first.`, { path: dir })
  }
  const contents = new TextEncoder().encode(`${process.pid}\n${hostname()}\n`)
  // A few rounds: the lock may vanish, or turn out stale, between our attempts.
  for (let attempt = 0; ; attempt++) {
    try {
      const handle = await fs.open(path, 'wx')
      try {
        await handle.write(contents, 0)
        // Durable, so a lock file that survives a power loss names its holder.
        await handle.sync()
      } finally {
        await handle.close()
      }
      break
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 2) throw error
    }
    let holder = await readHolder(fs, path)
    if (holder === undefined) {
      // Empty or unreadable: either its creator is between creating and writing it
      // (microseconds), or it crashed there. Look again after a pause to tell which.
      await new Promise((resolve) => setTimeout(resolve, UNREADABLE_LOCK_WAIT_MS))
      holder = await readHolder(fs, path)
      if (holder === undefined) {
        logger.warn('storage-file: taking over an empty or unreadable lock file', { dir })
        await fs.unlink(path)
        continue
      }
    }
    if (holder === 'gone') continue
    const stale = holder !== undefined && holder.host === hostname() && (holder.pid === process.pid || !isAlive(holder.pid))
    if (!stale) {
      const who = `process ${holder.pid} on host ${holder.host}`
      throw new LockstepError(
        ErrorCodes.INVALID_CONFIG,
        `Storage directory ${dir} is locked by ${who} (${path}). Two replicas must not share a directory: stop the other process, or if you are sure none is running, delete ${path}.`,
        { path: dir },
      )
    }
    logger.warn('storage-file: taking over a stale lock left by a process that is gone', { dir, pid: holder.pid })
    await fs.unlink(path)
  }
  heldByThisProcess.add(key)
  return async () => {
    heldByThisProcess.delete(key)
    await fs.unlink(path)
  }
}

async function readHolder(fs: StorageFileSystem, path: string): Promise<{ pid: number; host: string } | 'gone' | undefined> {
  let text: string
  try {
    text = new TextDecoder().decode(await fs.readFile(path))
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'gone'
    throw error
  }
  const [pidText, host] = text.split('\n')
  const pid = Number(pidText)
  return Number.isSafeInteger(pid) && pid > 0 && host !== undefined ? { pid, host } : undefined
}
