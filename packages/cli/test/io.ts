import { readFile, writeFile } from 'node:fs/promises'
import type { Io } from '../src/io'

/** In-memory stdout/stderr around the real file system. */
export function memoryIo(stdin = '') {
  const out: string[] = []
  const err: string[] = []
  const io: Io = {
    stdout: (t) => void out.push(t),
    stderr: (t) => void err.push(t),
    readFile: (p) => readFile(p, 'utf8'),
    writeFile: (p, d) => writeFile(p, d, 'utf8'),
    readStdin: async () => stdin,
  }
  return { io, stdout: () => out.join('\n'), stderr: () => err.join('\n') }
}
