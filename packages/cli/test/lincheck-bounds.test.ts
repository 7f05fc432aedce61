import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKvHistory } from '@lockstep/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { killEverything, requireBuiltCli, runCli } from './processes'

// Found 6 (issue 11) at process level: a 50-client, 2,000-operation kv history made
// `lockstep lincheck` run for minutes and die with `RangeError: Map maximum size exceeded`
// and a stack trace. Now it prints a verdict; and a spent budget is verdict "unknown"
// (exit 3), one line, no stack trace. The built CLI runs, as users run it.
let dir: string
const file = (name: string) => join(dir, name)

beforeAll(async () => {
  requireBuiltCli()
  dir = await mkdtemp(join(tmpdir(), 'lockstep-lincheck-bounds-'))
  const history = generateKvHistory({ seed: 1, operations: 2000, clients: 50, keys: 5 })
  await writeFile(file('many.json'), JSON.stringify(history))
  // The last get of k4 (a partition searched after the hardest one) reads a value never written.
  const broken = history.slice()
  let index = broken.length - 1
  while (broken[index]!.input.f !== 'get' || broken[index]!.input.key !== 'k4' || broken[index]!.output === null) index--
  broken[index] = { ...broken[index]!, output: { value: 'never written' } }
  await writeFile(file('many-broken.json'), JSON.stringify(broken))
})
afterAll(async () => {
  killEverything()
  await rm(dir, { recursive: true, force: true })
})

describe('lockstep lincheck on a 50-client kv history (Found 6)', () => {
  it('says linearizable (exit 0)', async () => {
    const { code, stdout, stderr } = await runCli(['lincheck', file('many.json'), '--model', 'kv'])
    expect(stderr).toBe('')
    expect(stdout).toMatch(/many\.json: linearizable \(model kv, 2000 operations, 5 partitions/)
    expect(code).toBe(0)
  }, 120_000)

  it('says not linearizable (exit 1) when a read returns a value never written', async () => {
    const { code, stdout, stderr } = await runCli(['lincheck', file('many-broken.json'), '--model', 'kv', '--json'])
    expect(stderr).toBe('')
    expect(JSON.parse(stdout)).toMatchObject({ verdict: 'not-linearizable', partition: 'key "k4"', failedOperation: { output: { value: 'never written' } } })
    expect(code).toBe(1)
  }, 120_000)

  it('gives verdict unknown (exit 3) in one line, without a stack trace, when --max-states is spent', async () => {
    const { code, stdout, stderr } = await runCli(['lincheck', file('many-broken.json'), '--model', 'kv', '--max-states', '1000'])
    expect(stderr).toBe('')
    expect(stdout.trim().split('\n')).toHaveLength(1)
    expect(stdout).toMatch(/many-broken\.json: unknown \(model kv, .*\): gave up after \d+ states in one partition \(maxStates 1000\)$/m)
    expect(code).toBe(2)

    const json = await runCli(['lincheck', file('many-broken.json'), '--model', 'kv', '--max-states', '1000', '--json'])
    expect(json.stderr).toBe('')
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, verdict: 'unknown', reason: expect.stringMatching(/gave up after \d+ states/) })
    expect(json.code).toBe(2)
  }, 120_000)

  it('gives verdict unknown (exit 3) when --timeout-ms is spent', async () => {
    // 1 ms cannot decide this history: the clock is polled while the search runs.
    const { code, stdout, stderr } = await runCli(['lincheck', file('many-broken.json'), '--model', 'kv', '--timeout-ms', '1'])
    expect(stderr).toBe('')
    expect(stdout.trim().split('\n')).toHaveLength(1)
    expect(stdout).toMatch(/many-broken\.json: unknown \(model kv, .*\): timed out after 1 ms$/m)
    expect(code).toBe(2)
  }, 120_000)

  it('refuses a --max-states that is not a positive whole number (exit 2)', async () => {
    const { code, stderr } = await runCli(['lincheck', file('many.json'), '--model', 'kv', '--max-states', '0'])
    expect(stderr).toMatch(/--max-states must be a whole number from 1/)
    expect(code).toBe(2)
  }, 120_000)
})
