// Giving up a dead machine, with real processes: r3's process is killed and leaves the view; `lockstep member
// remove r3` takes it out of the configuration (before, refused with NOT_MEMBER: it was no longer a member of the
// view); r1 and r2 then restart from their disks and r3's process comes back, and r3 stays out (before, a restarted member
// had forgotten the removal; once every member had, r3 was back for good), until `member add r3`.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { LoadedClusterConfig } from '../src/cluster-config'
import { clusterUp, killEverything, requireBuiltCli, runCli, startReplica, untilReport, type ReplicaReport } from './processes'

let dir: string
let configFile: string
let config: LoadedClusterConfig
let pids: Map<string, number>

beforeAll(async () => {
  requireBuiltCli()
  dir = await mkdtemp(join(tmpdir(), 'lockstep-member-restarts-'))
  const clusterDir = join(dir, 'cluster')
  ;({ pids, configFile, config } = await clusterUp(clusterDir, ['--storage', 'file', '--machine', 'kv', '--log-level', 'warn']))
}, 90_000)

afterAll(async () => {
  killEverything()
  await rm(dir, { recursive: true, force: true })
})

const until = (id: string, what: string, check: (report: ReplicaReport) => boolean) => untilReport(config, id, what, check)
const restart = (id: string) => startReplica(configFile, id, pids)

describe('an operator gives up a dead machine (real processes, file storage)', () => {
  it('removes a replica whose process died, keeps it out across a member restart, and admits it again', async () => {
    const put = await runCli(['client', '--cluster', configFile, '--id', 'alice', 'put', '{"key":"k","value":"v1"}'])
    expect(put.code, put.stderr).toBe(0)

    process.kill(pids.get('r3')!, 'SIGKILL')
    await until('r1', 'a view without r3', (s) => s.status === 'normal' && !s.view.members.includes('r3'))
    const removed = await runCli(['member', 'remove', 'r3', '--cluster', configFile, '--json'])
    expect(removed.code, removed.stderr).toBe(0)
    expect(JSON.parse(removed.stdout)).toMatchObject({ ok: true, action: 'remove', replica: 'r3', configuration: ['r1', 'r2'] })

    // r1 and r2 lose power together and restart from their disks, then r3's process comes back with its old disk:
    // nobody holds the operator's command in memory any more, but the removal is on record with the views.
    process.kill(pids.get('r1')!, 'SIGKILL')
    process.kill(pids.get('r2')!, 'SIGKILL')
    restart('r1')
    restart('r2')
    await until('r1', 'r1 serving again', (s) => s.status === 'normal' && s.view.members.includes('r1'))
    restart('r3')
    // r3's disk still says a view with it in: it waits, recovering, to be brought back.
    await until('r3', 'r3 up and asking to be brought back', (s) => s.status === 'joining' || s.status === 'recovering')
    const before = await until('r1', 'r1 serving', (s) => s.status === 'normal')
    // r3 asks to rejoin every half view-change timeout; a cluster that let it in (or changed views over it) would
    // show it in this while. Nothing about the time is asserted: only that nothing changed.
    await new Promise((resolve) => setTimeout(resolve, 3_000))
    const after = await until('r1', 'r1 serving', (s) => s.status === 'normal')
    expect(after.view).toEqual(before.view)
    expect(after.configuration).toEqual(['r1', 'r2'])
    const read = await runCli(['client', '--cluster', configFile, '--id', 'bob', 'get', '{"key":"k"}'])
    expect(read.code, read.stderr).toBe(0)
    expect(JSON.parse(read.stdout)).toMatchObject({ ok: true, outputs: [{ value: 'v1' }] })

    const added = await runCli(['member', 'add', 'r3', '--cluster', configFile, '--json'])
    expect(added.code, added.stderr).toBe(0)
    expect(JSON.parse(added.stdout)).toMatchObject({ ok: true, action: 'add', replica: 'r3', view: { members: ['r1', 'r2', 'r3'] }, configuration: ['r1', 'r2', 'r3'] })
    await until('r3', 'r3 serving again', (s) => s.status === 'normal' && s.view.members.includes('r3'))
  }, 180_000)
})
