import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll } from 'vitest'
import type { Io } from '../src/io'

/** The example DSL specs of the lock service. */
export const specs = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'apps', 'lock-service', 'specs')

/** In-memory stdout/stderr around the real file system. */
export function memoryIo(stdin = '') {
  const out: string[] = []
  const err: string[] = []
  const io: Io = {
    stdout: (t) => void out.push(t),
    stderr: (t) => void err.push(t),
    readFile: (p) => readFile(p, 'utf8'),
    readFileBytes: (p) => readFile(p),
    writeFile: (p, d) => writeFile(p, d, 'utf8'),
    readStdin: async () => stdin,
  }
  return {
    io,
    stdout: () => out.join('\n'),
    stderr: () => err.join('\n'),
    /** Every stdout line, parsed as JSON. */
    lines: (): unknown[] => out.map((line) => JSON.parse(line)),
  }
}

/** A temporary directory for the file's tests, made before them and removed after; call the result inside a test. */
export function useTempDir(prefix: string): () => string {
  let dir: string | undefined
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), prefix))
  })
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true })
  })
  return () => dir!
}
