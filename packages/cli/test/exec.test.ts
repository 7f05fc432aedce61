import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { execCommand } from '../src/commands/exec'
import { memoryIo, specs, useTempDir } from './io'

const tempDir = useTempDir('lockstep-exec-')

describe('lockstep exec', () => {
  it("runs the seed's mutex as its semantics say: grant, queue, hand over on release", async () => {
    const { io, lines, stderr } = memoryIo('c1 acquire\nc2 acquire\nc1 release\n')
    expect(await execCommand([join(specs, 'seed-mutex.sm')], io)).toBe(0)
    expect(lines()).toEqual([
      { to: 'c1', value: 'OK' },
      { to: 'c2', value: 'OK' },
      { state: { user: 'c2', waiting: [] } },
    ])
    expect(stderr()).toBe('')
  })

  it('prints one line per output and per rejected or failed command, then the final state', async () => {
    const input = [
      '# a comment',
      'c1 put {"key":"a","value":3}',
      'c2 incr {"key":"a","by":2}',
      'c2 get {"key":"zz"}',
      'c1 put {"key":"a","value":"three"}',
      'c1 fly',
      '',
      'c3 divide {"key":"a","by":0}',
      'c3 size',
    ].join('\n')
    const { io, lines } = memoryIo(input)
    expect(await execCommand([join(specs, 'kv.sm')], io)).toBe(0)
    const file = join(specs, 'kv.sm')
    expect(lines()).toEqual([
      { to: 'c1', value: 'OK' },
      { to: 'c2', value: 5 },
      { client: 'c2', error: `${file}:11:10: get failed: the map has no key "zz" in 'data[key]'; the command was aborted and the state is unchanged` },
      { client: 'c1', error: 'invalid command: /args/value must be an integer within ±9007199254740991, got string "three"' },
      { client: 'c1', error: "invalid command: kv has no command 'fly'; its commands are put, get, find, remove, incr, divide, size" },
      { client: 'c3', error: `${file}:30:18: divide failed: division by zero in 'data[key] / by'; the command was aborted and the state is unchanged` },
      { to: 'c3', value: 1 },
      { state: { data: { a: 5 } } },
    ])
  })

  it('@MS lines set the agreed time (the DSL\'s now) of the commands after them; time never goes back', async () => {
    const spec = join(tempDir(), 'lease.sm')
    await writeFile(
      spec,
      'lease: state_machine\n  var\n    expires: int init 0\n  take: command\n    expires := now + 100\n    send expires to client\n  end take\nend lease\n',
    )
    const { io, lines } = memoryIo('c1 take\n@1500\nc2 take\n@1000\nc3 take\n')
    expect(await execCommand([spec], io)).toBe(2)
    expect(lines()).toEqual([
      { to: 'c1', value: 100 },
      { to: 'c2', value: 1600 },
      { error: "line 4: expected '@MS', a whole number of milliseconds at or above the time so far (1500), got '@1000'" },
      { to: 'c3', value: 1600 },
      { state: { expires: 1600 } },
    ])
  })

  it('reports unreadable lines and exits 2 after running the rest', async () => {
    const { io, lines } = memoryIo('c1\nc1 acquire {oops\nc1 acquire\n')
    expect(await execCommand([join(specs, 'safe-mutex.sm')], io)).toBe(2)
    expect(lines()).toEqual([
      { client: 'c1', error: "line 1: expected 'CLIENT COMMAND [JSON-ARGS]', got 'c1'" },
      { client: 'c1', error: expect.stringMatching(/^line 2: the arguments are not JSON/) },
      { to: 'c1', value: 1 },
      { state: { user: 'c1', waiting: [], token: 1 } },
    ])
  })

  it('prints diagnostics and exits 1 for a spec with errors', async () => {
    const file = join(tempDir(), 'bad.sm')
    await writeFile(file, 'm: state_machine\n  go: command\n    send x to client\n  end go\nend m\n')
    const { io, stderr } = memoryIo('c1 go\n')
    expect(await execCommand([file], io)).toBe(1)
    expect(stderr()).toContain(`${file}:3:10: error: unknown name 'x' [DSL3001]`)
  })

  it('exits 2 for bad usage', async () => {
    expect(await execCommand([], memoryIo('').io)).toBe(2)
    expect(await execCommand([join(tempDir(), 'missing.sm')], memoryIo('').io)).toBe(2)
  })
})
