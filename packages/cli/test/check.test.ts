import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { checkCommand } from '../src/commands/check'
import { memoryIo, specs, useTempDir } from './io'

const tempDir = useTempDir('lockstep-check-')

describe('lockstep check', () => {
  it("finds the seed mutex's two-step violation: the holder acquires twice", async () => {
    const { io, stdout } = memoryIo()
    const code = await checkCommand([join(specs, 'seed-mutex.sm'), '--clients', '2', '--depth', '4', '--invariant', 'not (user in waiting)'], io)
    expect(code).toBe(1)
    expect(stdout()).toContain('VIOLATION of invariant: not (user in waiting)')
    expect(stdout()).toContain('shortest trace (2 steps):\n  1. c1 acquire    → {"to":"c1","value":"OK"}\n  2. c1 acquire\nstate: {"user":"c1","waiting":["c1"]}')
    expect(stdout()).toMatch(/explored \d+ states \(\d+ transitions\) in [\d.]+ ms \(\d+ states\/s\)/)
  })

  it('passes the safe mutex with 3 clients to depth 8', async () => {
    const { io, stdout } = memoryIo()
    const code = await checkCommand([
      join(specs, 'safe-mutex.sm'), '--clients', '3', '--depth', '8',
      '--invariant', 'not (user in waiting)', '--invariant', 'user ≠ Φ or waiting = Φ',
    ], io)
    expect(code).toBe(0)
    expect(stdout()).toContain('ok: all 2 invariants hold in every state up to depth 8')
  })

  it('lists the argument domains it tries', async () => {
    const { io, stdout } = memoryIo()
    expect(await checkCommand([join(specs, 'counter.sm'), '--depth', '2', '--domain', 'amount=-1,5', '--invariant', 'count >= 0'], io)).toBe(0)
    expect(stdout()).toContain('arguments: add.amount ∈ {-1, 5}')
    expect(stdout()).toContain('ok: the invariant holds in every state up to depth 2')
  })

  it('prints one JSON object with --json', async () => {
    const { io, stdout } = memoryIo()
    const code = await checkCommand([join(specs, 'kv.sm'), '--clients', '1', '--depth', '3', '--invariant', 'len(data) < 2', '--domain', 'put.key=a,b', '--domain', 'value=7', '--allow-abort', '--json'], io)
    expect(code).toBe(1)
    const report = JSON.parse(stdout())
    expect(report).toMatchObject({ ok: false, machine: 'kv', clients: ['c1'], depth: 3, invariants: ['len(data) < 2'] })
    expect(report.violation.trace.map((s: { line: string }) => s.line)).toEqual(['c1 put {"key":"a","value":7}', 'c1 put {"key":"b","value":7}'])
    expect(typeof report.elapsedMs).toBe('number')
    expect(report.statesExplored).toBeGreaterThan(1)
  })

  it('exits 2 for a bad invariant, domain, spec or flag', async () => {
    const badInvariant = memoryIo()
    expect(await checkCommand([join(specs, 'seed-mutex.sm'), '--invariant', 'not (usr in waiting)'], badInvariant.io)).toBe(2)
    expect(badInvariant.stderr()).toContain("--invariant 1:1:6: error: unknown name 'usr'; did you mean 'user'? [DSL3001]\nnot (usr in waiting)\n     ^^^")
    const badDomain = memoryIo()
    expect(await checkCommand([join(specs, 'kv.sm'), '--domain', 'value=x'], badDomain.io)).toBe(2)
    expect(badDomain.stderr()).toContain("'x' is not an integer")
    const file = join(tempDir(), 'bad.sm')
    await writeFile(file, 'm: state_machine\nend m\n')
    expect(await checkCommand([file], memoryIo().io)).toBe(2)
    expect(await checkCommand([join(specs, 'kv.sm'), '--clients', 'many'], memoryIo().io)).toBe(2)
    expect(await checkCommand([], memoryIo().io)).toBe(2)
  })

  it('shows a counting progress line where the terminal takes one, and clears it; none with --json', async () => {
    const terminal = memoryIo()
    const progress: string[] = []
    const code = await checkCommand([join(specs, 'seed-mutex.sm'), '--clients', '3', '--depth', '5'], { ...terminal.io, progress: (line) => void progress.push(line) })
    expect(code).toBe(0)
    expect(progress[0]).toMatch(/^checking: \d+ states, \d+ transitions, depth \d+$/)
    expect(progress[progress.length - 1]).toBe('')
    const quiet: string[] = []
    await checkCommand([join(specs, 'seed-mutex.sm'), '--clients', '3', '--depth', '5', '--json'], { ...memoryIo().io, progress: (line) => void quiet.push(line) })
    expect(quiet).toEqual([])
  })
})
