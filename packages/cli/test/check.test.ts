import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { checkCommand } from '../src/commands/check'
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
  dir = await mkdtemp(join(tmpdir(), 'lockstep-check-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('lockstep check', () => {
  it("finds the seed mutex's two-step violation: the holder acquires twice", async () => {
    const { io, stdout } = captureIo()
    const code = await checkCommand([join(specs, 'seed-mutex.sm'), '--clients', '2', '--depth', '4', '--invariant', 'not (user in waiting)'], io)
    expect(code).toBe(1)
    expect(stdout()).toContain('VIOLATION of invariant: not (user in waiting)')
    expect(stdout()).toContain('shortest trace (2 steps):\n  1. c1 acquire    → {"to":"c1","value":"OK"}\n  2. c1 acquire\nstate: {"user":"c1","waiting":["c1"]}')
    expect(stdout()).toMatch(/explored \d+ states \(\d+ transitions\) in [\d.]+ ms \(\d+ states\/s\)/)
  })

  it('passes the safe mutex with 3 clients to depth 8', async () => {
    const { io, stdout } = captureIo()
    const code = await checkCommand([
      join(specs, 'safe-mutex.sm'), '--clients', '3', '--depth', '8',
      '--invariant', 'not (user in waiting)', '--invariant', 'user ≠ Φ or waiting = Φ',
    ], io)
    expect(code).toBe(0)
    expect(stdout()).toContain('ok: all 2 invariants hold in every state up to depth 8')
  })

  it('lists the argument domains it tries', async () => {
    const { io, stdout } = captureIo()
    expect(await checkCommand([join(specs, 'counter.sm'), '--depth', '2', '--domain', 'amount=-1,5', '--invariant', 'count >= 0'], io)).toBe(0)
    expect(stdout()).toContain('arguments: add.amount ∈ {-1, 5}')
    expect(stdout()).toContain('ok: the invariant holds in every state up to depth 2')
  })

  it('prints one JSON object with --json', async () => {
    const { io, stdout } = captureIo()
    const code = await checkCommand([join(specs, 'kv.sm'), '--clients', '1', '--depth', '3', '--invariant', 'len(data) < 2', '--domain', 'put.key=a,b', '--domain', 'value=7', '--json'], io)
    expect(code).toBe(1)
    const report = JSON.parse(stdout())
    expect(report).toMatchObject({ ok: false, machine: 'kv', clients: ['c1'], depth: 3, invariants: ['len(data) < 2'] })
    expect(report.violation.trace.map((s: { line: string }) => s.line)).toEqual(['c1 put {"key":"a","value":7}', 'c1 put {"key":"b","value":7}'])
    expect(typeof report.elapsedMs).toBe('number')
    expect(report.statesExplored).toBeGreaterThan(1)
  })

  it('exits 2 for a bad invariant, domain, spec or flag', async () => {
    const badInvariant = captureIo()
    expect(await checkCommand([join(specs, 'seed-mutex.sm'), '--invariant', 'not (usr in waiting)'], badInvariant.io)).toBe(2)
    expect(badInvariant.stderr()).toContain("--invariant 1:1:6: error: unknown name 'usr'; did you mean 'user'? [DSL3001]\nnot (usr in waiting)\n     ^^^")
    const badDomain = captureIo()
    expect(await checkCommand([join(specs, 'kv.sm'), '--domain', 'value=x'], badDomain.io)).toBe(2)
    expect(badDomain.stderr()).toContain("'x' is not an integer")
    const file = join(dir, 'bad.sm')
    await writeFile(file, 'm: state_machine\nend m\n')
    expect(await checkCommand([file], captureIo().io)).toBe(2)
    expect(await checkCommand([join(specs, 'kv.sm'), '--clients', 'many'], captureIo().io)).toBe(2)
    expect(await checkCommand([], captureIo().io)).toBe(2)
  })
})
