import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { specs, useTempDir } from './io'
import { killEverything, requireBuiltCli, runCli } from './processes'

/** The spec with a liveness bug: a queued waiter is never granted. */
const lostWaiter = join(specs, '..', '..', '..', 'packages', 'dsl', 'test', 'fixtures', 'lost-waiter.sm')
const tempDir = useTempDir('lockstep-check-process-')

beforeAll(() => requireBuiltCli())
afterAll(() => killEverything())

describe('lockstep check (the built CLI): the new flags and their exit codes', () => {
  it('finds the waiter that is never granted (--eventually, --after): exit 1, a lasso, and the ITF trace with its loop', async () => {
    const itf = join(tempDir(), 'lasso.itf.json')
    const run = await runCli(['check', lostWaiter, '--clients', '2', '--depth', '6', '--eventually', 'user = c1', '--after', 'c1 acquire', '--itf', itf])
    expect(run.stderr).toBe('')
    expect(run.code).toBe(1)
    expect(run.stdout).toContain('VIOLATION of liveness: eventually user = c1 after c1 acquire')
    expect(run.stdout).toContain('lasso: 3 steps to the loop, then a cycle of 0 steps repeated forever:\n  1. c2 acquire    → {"to":"c2","value":"OK"}\n  2. c1 acquire\n  3. c2 release\n  then nothing changes, forever')
    const trace = JSON.parse(await readFile(itf, 'utf8'))
    expect(trace['#meta']).toMatchObject({ format: 'ITF' })
    expect(trace.vars).toEqual(['user', 'waiting'])
    expect(trace.states).toHaveLength(4)
    expect(trace.states[3]).toEqual({ '#meta': { index: 3, action: 'c2 release', time: 0 }, user: { '#unserializable': 'Φ' }, waiting: ['c1'] })
    expect(trace.loop).toBe(3)
  })

  it('passes the safe mutex on the same liveness property: exit 0', async () => {
    const run = await runCli(['check', join(specs, 'safe-mutex.sm'), '--clients', '2', '--depth', '8', '--eventually', 'user = c1', '--after', 'c1 acquire'])
    expect(run.code).toBe(0)
    expect(run.stdout).toContain('ok: the property holds in every state up to depth 8')
  })

  it('reports a command that aborts (exit 1) unless --allow-abort (exit 0)', async () => {
    const aborts = await runCli(['check', join(specs, 'kv.sm'), '--clients', '1', '--depth', '2'])
    expect(aborts.code).toBe(1)
    expect(aborts.stdout).toContain('VIOLATION: a command aborted: c1 get {"key":"a"} (--allow-abort permits it)')
    const allowed = await runCli(['check', join(specs, 'kv.sm'), '--clients', '1', '--depth', '2', '--allow-abort'])
    expect(allowed.code).toBe(0)
  })

  it('reports a command with no enabled arm with --deadlock (exit 1)', async () => {
    const file = join(tempDir(), 'picky.sm')
    await writeFile(file, 'picky: state_machine\n  var user: client_id\n  take: command\n    if user = Φ -> user := client\n  end take\nend picky\n')
    expect((await runCli(['check', file, '--clients', '2', '--depth', '3'])).code).toBe(0)
    const run = await runCli(['check', file, '--clients', '2', '--depth', '3', '--deadlock'])
    expect(run.code).toBe(1)
    expect(run.stdout).toContain('VIOLATION: a command has no enabled arm: c1 take\n  c1 take has no enabled arm: no guard holds\nshortest trace (2 steps):\n  1. c1 take\n  2. c1 take')
  })

  it('reduces by symmetry unless --no-symmetry, and prints no progress line on a pipe', async () => {
    const args = ['check', join(specs, 'seed-mutex.sm'), '--clients', '3', '--depth', '6', '--invariant', "forall c: len(waiting) <= 6", '--json']
    const reduced = await runCli(args)
    const full = await runCli([...args, '--no-symmetry'])
    expect(reduced.code).toBe(0)
    expect(full.code).toBe(0)
    const a = JSON.parse(reduced.stdout)
    const b = JSON.parse(full.stdout)
    expect(a.symmetry).toEqual({ enabled: true, fixedClients: [], statesWithoutSymmetry: b.statesExplored })
    expect(b.symmetry.enabled).toBe(false)
    expect(a.fingerprints.bits).toBe(64)
    expect(reduced.stderr).toBe('')
    const text = await runCli(args.slice(0, -1))
    expect(text.stderr).toBe('')
    expect(text.stdout).toMatch(/symmetry: on, clients interchangeable; they stand for \d+ states \(\d+\.\dx\)/)
  })

  it('exits 2 for a bad --after, --after without --eventually, or a bad property', async () => {
    const badAfter = await runCli(['check', lostWaiter, '--eventually', 'user = c1', '--after', 'c9 acquire'])
    expect(badAfter.code).toBe(2)
    expect(badAfter.stderr).toContain("--after 'c9 acquire' must be a client and a command")
    expect((await runCli(['check', lostWaiter, '--after', 'c1 acquire'])).code).toBe(2)
    const badProperty = await runCli(['check', lostWaiter, '--invariant', 'forall user: user = c1'])
    expect(badProperty.code).toBe(2)
    expect(badProperty.stderr).toContain("'user' is a state variable; give the quantified client another name")
  })
})
