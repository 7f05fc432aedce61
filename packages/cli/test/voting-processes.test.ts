import { beforeAll, describe, expect, it } from 'vitest'
import { checkLinearizability, checkMutualExclusion, kvModel } from '@lockstep/testkit'
import { TEST_LIE_VARIABLE } from '../src/replica-runner'
import { useLocalCluster } from './local-cluster-fixture'
import { runCli } from './processes'
import { runClusterWorkload } from './workload-runner'

// Issue 13: output voting with real `lockstep replica` processes over TCP, one of which lies to its clients
// (LOCKSTEP_TEST_LIE: the testkit's lying transport, every reply and output it sends a client corrupted).

const LIAR = 'r3'
// The replica processes inherit the environment when the clusters start (in the fixtures' beforeAll): r3 lies,
// r1 and r2 do not. The variable is removed once they run.
process.env[TEST_LIE_VARIABLE] = JSON.stringify({ [LIAR]: { seed: 7, mode: 'outputs' } })
const fixtures = { kv: useLocalCluster('lockstep-voting-kv-', { machine: 'kv', logLevel: 'error' }), mutex: useLocalCluster('lockstep-voting-mutex-', { machine: 'mutex', logLevel: 'error' }) }
const clusters = { get: (machine: 'kv' | 'mutex') => fixtures[machine].cluster }
beforeAll(() => {
  delete process.env[TEST_LIE_VARIABLE]
})

describe('voting against a lying replica process (3 replicas over TCP, t = 1)', () => {
  it('kv, byzantine: 4 clients × 40 operations, some preferring the liar, stay linearizable; only the liar is outvoted', async () => {
    const { history, dissent } = await runClusterWorkload(clusters.get('kv'), 'kv', 11, { clients: 4, opsPerClient: 40, voter: 'byzantine' })
    expect(history).toHaveLength(160)
    const result = checkLinearizability(history, kvModel)
    expect(result.violation?.message).toBeUndefined()
    expect(result.verdict).toBe('linearizable')
    expect(Object.keys(dissent)).toEqual([LIAR])
    expect(dissent[LIAR]).toBeGreaterThan(0)
  })

  it('mutex, byzantine: grants and releases keep mutual exclusion though the liar corrupts every answer', async () => {
    const { events, dissent } = await runClusterWorkload(clusters.get('mutex'), 'mutex', 12, { clients: 4, opsPerClient: 20, voter: 'byzantine' })
    expect(events.filter((e) => e.kind === 'grant')).toHaveLength(40)
    expect(checkMutualExclusion(events)).toEqual([])
    expect(Object.keys(dissent)).toEqual([LIAR])
  })

  // (That a client taking the first answer is fooled is shown on virtual time, where it is certain: over TCP the
  // liar's answer may or may not come first. See packages/conformance/test/voting-simulator.test.ts.)

  it('lockstep client --voter byzantine --replica r3: the right answer though the replica asked first lies', async () => {
    const config = clusters.get('kv').configFile
    const put = await runCli(['client', '--cluster', config, '--voter', 'byzantine', '--replica', LIAR, 'put', '{"key":"k","value":"v"}'])
    expect(put.code, put.stderr).toBe(0)
    const get = await runCli(['client', '--cluster', config, '--voter', 'byzantine', '--replica', LIAR, 'get', '{"key":"k"}'])
    expect(get.code, get.stderr).toBe(0)
    expect(JSON.parse(get.stdout)).toMatchObject({ ok: true, outputs: [{ value: 'v' }], voter: 'byzantine(1)' })
    // Whether the liar's answer arrives before the client exits is a matter of timing: if it does, it is named.
    for (const line of get.stderr.split('\n').filter((l) => l.includes('outvoted'))) expect(line).toMatch(/^lockstep client: r3 answered /)
    const bad = await runCli(['client', '--cluster', config, '--voter', 'plurality', 'get', '{"key":"k"}'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/--voter 'plurality' is not a voter; choose from first, majority, byzantine/)
  })
})
