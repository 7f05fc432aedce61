import { readFile, writeFile } from 'node:fs/promises'

/** Everything a command touches outside itself, so commands run in tests with in-memory I/O. */
export interface Io {
  stdout(text: string): void
  stderr(text: string): void
  readFile(path: string): Promise<string>
  writeFile(path: string, data: string): Promise<void>
  readStdin(): Promise<string>
  /** Replaces the progress line on a terminal (`''` clears it). Absent when stderr is not a terminal. */
  progress?: (line: string) => void
}

/** The process's real I/O. */
export const processIo: Io = {
  stdout: (text) => void process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  stderr: (text) => void process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
  readFile: (path) => readFile(path, 'utf8'),
  writeFile: (path, data) => writeFile(path, data, 'utf8'),
  readStdin: async () => {
    const chunks: Buffer[] = []
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
    return Buffer.concat(chunks).toString('utf8')
  },
  ...(process.stderr.isTTY ? { progress: (line: string) => void process.stderr.write(`\r\u001b[K${line}`) } : {}),
}

/** Exit codes shared by every command. */
export const ExitCode = {
  OK: 0,
  /** The check failed (a violation, a non-linearizable history, a compile error). */
  FAILED: 1,
  /** Bad usage or unreadable input. */
  USAGE: 2,
} as const
