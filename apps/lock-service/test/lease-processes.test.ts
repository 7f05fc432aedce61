import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { describeUncleanStop, upLocalCluster, type LocalCluster } from '@lockstep/cli'
import { afterAll, describe, expect, it } from 'vitest'
import { LockClient, type Grant } from '../src/index'

// The acceptance test of leases with real processes: three `lockstep replica` processes of the leased mutex, a
// holder in a child process (test/fixtures/lease-holder.mjs, running the built dist: `turbo run test` builds it)
// killed with SIGKILL while it holds the lock, and a waiter in this process.
const SPEC = fileURLToPath(new URL('../specs/leased-mutex.sm', import.meta.url))
const HOLDER = fileURLToPath(new URL('./fixtures/lease-holder.mjs', import.meta.url))
const TTL_MS = 1500
const HEARTBEAT_MS = TTL_MS / 3

let cluster: LocalCluster | undefined
let holder: ChildProcess | undefined

afterAll(async () => {
  if (holder?.exitCode === null && holder.signalCode === null) holder.kill('SIGKILL')
  const stopped = (await cluster?.stop()) ?? []
  const unclean = stopped.map(describeUncleanStop).filter((problem) => problem !== undefined)
  if (unclean.length > 0) throw new Error(`the cluster did not stop cleanly:\n${unclean.join('\n')}`)
}, 60_000)

/** The first line the holder prints (its grant), or its stderr when it ends first. */
function firstLine(child: ChildProcess): Promise<string> {
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve)
    child.once('exit', (code, signal) => reject(new Error(`the holder exited (code ${code}, signal ${signal}) before it printed its grant; stderr: ${stderr}`)))
  })
}

describe('leases with real processes', () => {
  it('a holder killed with SIGKILL while holding loses the lock; the waiter gets it with a higher fencing token', async () => {
    const logs: string[] = []
    cluster = await upLocalCluster({ machine: SPEC, replicas: 3, basePort: 0, onLog: (line) => logs.push(line) })
    holder = spawn(process.execPath, [HOLDER, cluster.configFile, String(TTL_MS)], { stdio: ['ignore', 'pipe', 'pipe'] })
    const held = JSON.parse(await firstLine(holder)) as { token: number; ttlMs: number }
    expect(held).toEqual({ token: 1, ttlMs: TTL_MS })

    const waiter = new LockClient(await cluster.client('waiter', { preferred: 'r2' }), { ttlMs: TTL_MS })
    let grantedAt: number | undefined
    const granted = waiter.acquire().then((grant) => {
      grantedAt = performance.now()
      return grant
    })
    // Let the holder renew a few times while the waiter is queued (not asserted: timing on a shared machine).
    await new Promise((resolve) => setTimeout(resolve, 2 * TTL_MS))
    const grantedBeforeKill = grantedAt !== undefined

    const exited = new Promise((resolve) => holder!.once('exit', resolve))
    const killedAt = performance.now()
    holder.kill('SIGKILL')
    await exited
    // A generous bound (many times TTL + heartbeat), only so that a lock that never passes on fails with a clear message.
    let giveUp: NodeJS.Timeout | undefined
    const grant: Grant = await Promise.race([
      granted,
      new Promise<never>((_, reject) => {
        giveUp = setTimeout(() => reject(new Error(`the waiter was not granted the lock within 30 s of the holder's SIGKILL (TTL ${TTL_MS} ms)`)), 30_000)
      }),
    ]).finally(() => clearTimeout(giveUp))
    expect(grant.token).toBeGreaterThan(held.token)
    expect(grant.token).toBe(2)

    // Measured, not asserted: the time from the kill to the grant, against the bound of TTL + one heartbeat.
    const killToGrantMs = grantedAt! - killedAt
    console.log(
      `lease process test: kill → grant ${killToGrantMs.toFixed(0)} ms (TTL ${TTL_MS} ms + heartbeat ${HEARTBEAT_MS} ms = ${TTL_MS + HEARTBEAT_MS} ms)` +
        (grantedBeforeKill ? '; the waiter was granted BEFORE the kill (renewals came too late)' : ''),
    )

    await waiter.release()
    expect(grant.signal.aborted).toBe(false)
    expect(logs.filter((line) => / error /.test(line))).toEqual([])
  }, 60_000)
})
