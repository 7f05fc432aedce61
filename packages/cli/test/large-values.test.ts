import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { useLocalCluster } from './local-cluster-fixture'
import { runCli } from './processes'

// Values of megabytes through three replica processes over TCP: the library and `lockstep client @file`.
const MiB = 1024 * 1024
const fixture = useLocalCluster('lockstep-large-')

describe('large values end to end', () => {
  it('a 10 MB value round-trips through the library (a reply larger than a client\'s buffer is delivered)', async () => {
    const client = await fixture.cluster.client('library')
    const value = 'v'.repeat(10 * MiB)
    expect(await client.call({ name: 'put', args: { key: 'big', value } })).toEqual([{}])
    const [got] = await client.call<{ value: string }>({ name: 'get', args: { key: 'big' } })
    expect(got!.value.length).toBe(value.length)
    expect(got!.value === value).toBe(true)
  }, 120_000)

  it('a 10 MB value round-trips through lockstep client put @file and get', async () => {
    const file = join(fixture.dir, 'args.json')
    await writeFile(file, JSON.stringify({ key: 'file', value: 'f'.repeat(10 * MiB) }))
    const put = await runCli(['client', '--cluster', fixture.cluster.configFile, 'put', `@${file}`])
    expect(put.code, put.stderr).toBe(0)
    const get = await runCli(['client', '--cluster', fixture.cluster.configFile, 'get', '{"key":"file"}'])
    expect(get.code, get.stderr.slice(0, 500)).toBe(0)
    expect((JSON.parse(get.stdout).outputs[0].value as string).length).toBe(10 * MiB)
  }, 120_000)

  it('a request over the frame limit fails at once with FRAME_TOO_LARGE and leaves nothing pending', async () => {
    const client = await fixture.cluster.client('too-large')
    await expect(client.submit({ name: 'put', args: { key: 'huge', value: 'h'.repeat(17 * MiB) } })).rejects.toMatchObject({ code: 'FRAME_TOO_LARGE' })
    expect(client.inFlight).toBe(0)
    const file = join(fixture.dir, 'huge.json')
    await writeFile(file, JSON.stringify({ key: 'huge', value: 'h'.repeat(17 * MiB) }))
    const put = await runCli(['client', '--cluster', fixture.cluster.configFile, 'put', `@${file}`])
    expect(put.code).toBe(1)
    expect(put.stderr).toContain('FRAME_TOO_LARGE')
    // And the cluster serves on.
    expect(await client.call({ name: 'get', args: { key: 'big' } })).toHaveLength(1)
  }, 120_000)

  it('10 MB puts in flight across a view change complete: the view change carrying them goes between replicas in parts', async () => {
    // Found: two pending 10 MB requests made every view change message larger than a frame (FRAME_TOO_LARGE on
    // each try), and the cluster changed views for ever without serving again.
    const client = await fixture.cluster.client('through-view-changes', { preferred: 'r1' })
    for (const victim of ['r2', 'r3']) {
      const puts = [0, 1].map((i) => client.call({ name: 'put', args: { key: `vc-${victim}-${i}`, value: `${i}`.repeat(10 * MiB) } }))
      const pid = fixture.cluster.replicas.find((r) => r.id === victim)!.pid
      process.kill(pid, 'SIGSTOP') // suspected by the others: a view change while the puts are pending
      try {
        await new Promise((resolve) => setTimeout(resolve, 2500))
      } finally {
        process.kill(pid, 'SIGCONT')
      }
      expect(await Promise.all(puts)).toEqual([[{}], [{}]])
    }
    // Every acknowledged put reads back whole. Found: vc-r3-1 read back empty (one run in about 25 beside busy
    // loops): r1 alone held a view's state and answered the puts its flush delivered; r2 and r3, both still taking
    // the state, formed the next view without r1 from r3's older state (memory storage). They now wait for r1.
    for (const key of ['vc-r2-0', 'vc-r2-1', 'vc-r3-0', 'vc-r3-1']) {
      const [got] = await client.call<{ value: string }>({ name: 'get', args: { key } })
      expect(got!.value.length, key).toBe(10 * MiB)
      if (got!.value !== key.slice(-1).repeat(10 * MiB)) {
        // What came back instead, and whether the replicas agree (found once in a full CI run: the right length, the wrong content).
        const counts: Record<string, number> = {}
        for (const char of got!.value) counts[char] = (counts[char] ?? 0) + 1
        const statuses = await fixture.cluster.status()
        expect.fail(`${key}: ${got!.value.length} chars, starting ${JSON.stringify(got!.value.slice(0, 16))}, counts ${JSON.stringify(counts)}; replicas: ${JSON.stringify(statuses.map((s) => ({ id: s.id, position: s.position, digest: s.digest, view: s.viewId, state: s.state })))}`)
      }
    }
    // An outcome, not a duration. Found: it hung about one run in four on a loaded machine (three busy loops beside
    // it, or a whole CI run). Every ballot of the view change carried the pending 20 MB again, in every promise,
    // accept and commit; behind a stalled peer they filled its link (64 MiB), sends were refused, and the view
    // change never finished. A large string now crosses each replica link once (transport-tcp's shared strings);
    // and a coordinator's view-change timeout doubles each time a promise for its earlier ballot comes back late.
  }, 300_000)
})
