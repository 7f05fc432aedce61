import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { compileCommand } from '../src/commands/compile'
import { memoryIo, specs, useTempDir } from './io'

const tempDir = useTempDir('lockstep-compile-')

describe('lockstep compile', () => {
  it('prints the TypeScript module of the seed mutex on stdout', async () => {
    const { io, stdout, stderr } = memoryIo()
    expect(await compileCommand([join(specs, 'seed-mutex.sm')], io)).toBe(0)
    expect(stdout()).toContain('export const mutex: StateMachine<MutexState, MutexCommand, MutexOutput>')
    expect(stdout()).toContain('export class MutexClient<R = unknown>')
    expect(stderr()).toBe('')
  })

  it('writes the module with -o', async () => {
    const out = join(tempDir(), 'safe-mutex.generated.ts')
    const { io, stderr } = memoryIo()
    expect(await compileCommand([join(specs, 'safe-mutex.sm'), '-o', out], io)).toBe(0)
    expect(await readFile(out, 'utf8')).toContain('export class SafeMutexClient')
    expect(stderr()).toMatch(/wrote .*safe-mutex\.generated\.ts: state machine 'safe_mutex' with commands acquire, release/)
  })

  it('prints every error as FILE:LINE:COL: error: MESSAGE with the line and a caret, and exits 1', async () => {
    const file = join(tempDir(), 'bad.sm')
    await writeFile(file, 'lock: state_machine\n  var user: client_id init Φ\n  grab: command\n    usr := client\n    user := 3\n  end grab\nend lock\n')
    const { io, stdout, stderr } = memoryIo()
    expect(await compileCommand([file], io)).toBe(1)
    expect(stdout()).toBe('')
    expect(stderr()).toContain(`${file}:4:5: error: unknown variable 'usr'; did you mean 'user'? [DSL3001]\n    usr := client\n    ^^^`)
    expect(stderr()).toContain(`${file}:5:13: error: cannot assign int to 'user' of type client_id [DSL3006]\n    user := 3\n            ^`)
    expect(stderr()).toMatch(/2 errors$/)
  })

  it('counts every error, the ones past the first 100 shown too', async () => {
    const file = join(tempDir(), 'junk.sm')
    const source = '@ '.repeat(300)
    await writeFile(file, source)
    const { io, stderr } = memoryIo()
    expect(await compileCommand([file], io)).toBe(1)
    expect(stderr()).toContain('\nand 200 more diagnostics\n')
    expect(stderr()).toMatch(/: 300 errors$/)
  })

  it('reads the file as bytes and reports invalid UTF-8 where it is', async () => {
    const file = join(tempDir(), 'latin1.sm')
    await writeFile(file, Uint8Array.from([...Buffer.from('m: state_machine\n  -- caf'), 0xe9, ...Buffer.from('\n  var x: int\nend m\n')]))
    const { io, stderr } = memoryIo()
    expect(await compileCommand([file], io)).toBe(1)
    expect(stderr()).toContain(`${file}:2:9: error: invalid UTF-8 byte 0xE9 [DSL1005]\n  -- caf\ufffd\n        ^`)
    expect(stderr()).toMatch(/: 1 error$/)
  })

  it('prints warnings but still succeeds', async () => {
    const file = join(tempDir(), 'warn.sm')
    await writeFile(file, 'c: state_machine\n  var n: int init 0\n  go(a: int): command\n    if a > 1 -> n := 1\n    if a > 2 -> n := 2\n  end go\nend c\n')
    const { io, stdout, stderr } = memoryIo()
    expect(await compileCommand([file], io)).toBe(0)
    expect(stderr()).toMatch(/warn\.sm:5:8: warning: this guard and the guard on line 4 can both hold/)
    expect(stdout()).toContain('export const c:')
  })

  it('exits 2 for bad usage or a missing file', async () => {
    expect(await compileCommand([], memoryIo().io)).toBe(2)
    expect(await compileCommand([join(tempDir(), 'missing.sm')], memoryIo().io)).toBe(2)
    expect(await compileCommand(['a.sm', '--bogus'], memoryIo().io)).toBe(2)
    const help = memoryIo()
    expect(await compileCommand(['--help'], help.io)).toBe(0)
    expect(help.stdout()).toContain('lockstep compile FILE.sm [-o OUT.ts]')
  })
})
