import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { compileCommand } from '../src/commands/compile'
import type { Io } from '../src/io'

const specs = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'apps', 'lock-service', 'specs')

function captureIo(): { io: Io; stdout: () => string; stderr: () => string } {
  const out: string[] = []
  const err: string[] = []
  return {
    io: {
      stdout: (t) => void out.push(t),
      stderr: (t) => void err.push(t),
      readFile: (p) => readFile(p, 'utf8'),
      writeFile: (p, d) => writeFile(p, d, 'utf8'),
      readStdin: async () => '',
    },
    stdout: () => out.join('\n'),
    stderr: () => err.join('\n'),
  }
}

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lockstep-compile-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('lockstep compile', () => {
  it('prints the TypeScript module of the seed mutex on stdout', async () => {
    const { io, stdout, stderr } = captureIo()
    expect(await compileCommand([join(specs, 'seed-mutex.sm')], io)).toBe(0)
    expect(stdout()).toContain('export const mutex: StateMachine<MutexState, MutexCommand, MutexOutput>')
    expect(stdout()).toContain('export class MutexClient<R = unknown>')
    expect(stderr()).toBe('')
  })

  it('writes the module with -o', async () => {
    const out = join(dir, 'safe-mutex.generated.ts')
    const { io, stderr } = captureIo()
    expect(await compileCommand([join(specs, 'safe-mutex.sm'), '-o', out], io)).toBe(0)
    expect(await readFile(out, 'utf8')).toContain('export class SafeMutexClient')
    expect(stderr()).toMatch(/wrote .*safe-mutex\.generated\.ts: state machine 'safe_mutex' with commands acquire, release/)
  })

  it('prints every error as FILE:LINE:COL: error: MESSAGE with the line and a caret, and exits 1', async () => {
    const file = join(dir, 'bad.sm')
    await writeFile(file, 'lock: state_machine\n  var user: client_id init Φ\n  grab: command\n    usr := client\n    user := 3\n  end grab\nend lock\n')
    const { io, stdout, stderr } = captureIo()
    expect(await compileCommand([file], io)).toBe(1)
    expect(stdout()).toBe('')
    expect(stderr()).toContain(`${file}:4:5: error: unknown variable 'usr'; did you mean 'user'? [DSL3001]\n    usr := client\n    ^^^`)
    expect(stderr()).toContain(`${file}:5:13: error: cannot assign int to 'user' of type client_id [DSL3006]\n    user := 3\n            ^`)
    expect(stderr()).toMatch(/2 errors$/)
  })

  it('prints warnings but still succeeds', async () => {
    const file = join(dir, 'warn.sm')
    await writeFile(file, 'c: state_machine\n  var n: int init 0\n  go(a: int): command\n    if a > 1 -> n := 1\n    if a > 2 -> n := 2\n  end go\nend c\n')
    const { io, stdout, stderr } = captureIo()
    expect(await compileCommand([file], io)).toBe(0)
    expect(stderr()).toMatch(/warn\.sm:5:8: warning: this guard and the guard on line 4 can both hold/)
    expect(stdout()).toContain('export const c:')
  })

  it('exits 2 for bad usage or a missing file', async () => {
    expect(await compileCommand([], captureIo().io)).toBe(2)
    expect(await compileCommand([join(dir, 'missing.sm')], captureIo().io)).toBe(2)
    expect(await compileCommand(['a.sm', '--bogus'], captureIo().io)).toBe(2)
    const help = captureIo()
    expect(await compileCommand(['--help'], help.io)).toBe(0)
    expect(help.stdout()).toContain('lockstep compile FILE.sm [-o OUT.ts]')
  })
})
