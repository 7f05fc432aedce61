// `lockstep cluster down` finds the `cluster up` of a directory by its pid file and checks that the pid is still
// a cluster up before it signals it.
import { spawn } from 'node:child_process'
import { mkdtemp, rm, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { isRunning, killEverything, requireBuiltCli, runCli, trackPid, waitFor } from './processes'

const builtBin = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'bin.js')
let dir: string | undefined

afterAll(async () => {
  killEverything()
  if (dir) await rm(dir, { recursive: true, force: true })
})

describe('lockstep cluster down', () => {
  // Found: the check wanted the word "lockstep" in the command line of the pid, so a cluster up started as
  // `node path/to/dist/bin.js cluster up` from a checkout in a directory of another name was taken for a stale
  // pid file: cluster down removed the file, said no cluster ran, and left the cluster running.
  it('stops a cluster up started through a path without the word lockstep in it', async () => {
    requireBuiltCli()
    dir = await mkdtemp(join(tmpdir(), 'cd-'))
    const bin = join(dir, 'cli.js')
    await symlink(builtBin, bin)
    const clusterDir = join(dir, 'cluster')
    const up = spawn(process.execPath, [bin, 'cluster', 'up', '--replicas', '1', '--machine', 'kv', '--base-port', '0', '--dir', clusterDir], { stdio: ['ignore', 'pipe', 'pipe'] })
    trackPid(up.pid!)
    let out = ''
    up.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk))
    up.stderr!.resume()
    await waitFor('cluster up to be ready', () => out.includes('cluster ready') || up.exitCode !== null, 60_000)
    for (const match of out.matchAll(/pid (\d+)/g)) trackPid(Number(match[1]))
    expect(out).toContain('cluster ready')
    const down = await runCli(['cluster', 'down', '--dir', clusterDir])
    expect(down.code, down.stderr).toBe(0)
    expect(down.stdout).toContain('lockstep cluster down: stopped the cluster of')
    expect(isRunning(up.pid!)).toBe(false)
  }, 90_000)
})
