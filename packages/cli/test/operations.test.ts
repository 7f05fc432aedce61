// The operator's toolkit end to end, with real processes: `cluster up --storage file` in one "shell", and
// client, status, member and cluster down as separate commands in another, as an operator runs them.
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { LoadedClusterConfig } from '../src/cluster-config'
import { clusterUp, isRunning, killEverything, logLines, requireBuiltCli, runCli, type CliProcess } from './processes'

let dir: string
let clusterDir: string
let configFile: string
let config: LoadedClusterConfig
let up: CliProcess
let pids: Map<string, number>

beforeAll(async () => {
  requireBuiltCli()
  dir = await mkdtemp(join(tmpdir(), 'lockstep-operations-'))
  clusterDir = join(dir, 'cluster')
  ;({ up, pids, configFile, config } = await clusterUp(clusterDir, ['--storage', 'file', '--machine', 'mutex', '--log-level', 'info']))
}, 90_000)

afterAll(async () => {
  killEverything()
  await rm(dir, { recursive: true, force: true })
})

const endpoint = (id: string) => `http://127.0.0.1:${config.replicas.find((r) => r.id === id)!.metricsPort!}`

/** The value of a metric (without labels other than the replica's) in Prometheus text. */
function metric(text: string, name: string): number {
  const match = new RegExp(`^${name}\\{replica="[^"]+"\\} (\\S+)$`, 'm').exec(text)
  if (!match) throw new Error(`no ${name} in:\n${text}`)
  return Number(match[1])
}

describe('an operator with a running cluster (cluster up --storage file)', () => {
  it('cluster up gives every replica an operator endpoint and records the pids', async () => {
    expect(up.child.exitCode, up.stderr()).toBeNull()
    expect([...pids.keys()]).toEqual(['r1', 'r2', 'r3'])
    for (const replica of config.replicas) expect(replica.metricsPort).toEqual(expect.any(Number))
    expect(await readFile(join(clusterDir, 'replicas.pid'), 'utf8')).toBe([...pids].map(([id, pid]) => `${id} ${pid}\n`).join(''))
    expect(up.stdout()).toContain(`npx lockstep cluster down --dir ${clusterDir}`)
  })

  it('acquires and releases the lock with lockstep client', async () => {
    const acquire = await runCli(['client', '--cluster', configFile, '--id', 'alice', 'acquire'])
    expect(acquire.code, acquire.stderr).toBe(0)
    expect(JSON.parse(acquire.stdout)).toMatchObject({ ok: true, outputs: ['OK'], client: 'alice' })
    const release = await runCli(['client', '--cluster', configFile, '--id', 'alice', 'release'])
    expect(release.code, release.stderr).toBe(0)
    expect(JSON.parse(release.stdout)).toMatchObject({ ok: true, client: 'alice' })
  })

  it('lockstep status shows every replica up, serving in one view of all three (a loaded machine may have changed views once: its id is not the point), at the same position with the same digest, and the lock\'s holder', async () => {
    const acquire = await runCli(['client', '--cluster', configFile, '--id', 'bob', 'acquire'])
    expect(acquire.code, acquire.stderr).toBe(0)
    const result = await runCli(['status', '--cluster', configFile, '--json'])
    expect(result.code, result.stderr).toBe(0)
    const report = JSON.parse(result.stdout) as { cluster: string; replicas: (Record<string, unknown> & { view?: { id: number } })[] }
    expect(report.cluster).toBe(config.clusterId)
    expect(report.replicas.map((r) => r.id)).toEqual(['r1', 'r2', 'r3'])
    for (const replica of report.replicas) {
      expect(replica).toMatchObject({ up: true, status: 'normal', view: { id: report.replicas[0]!.view!.id, members: ['r1', 'r2', 'r3'] }, configuration: ['r1', 'r2', 'r3'], clockOffsets: null, pid: pids.get(replica.id as string) })
      expect(replica.peersConnected).toEqual(['r1', 'r2', 'r3'].filter((id) => id !== replica.id))
      expect(replica.stabilityLag).toEqual({ pendingRequests: expect.any(Number) as unknown, oldestPendingMs: null })
      expect(replica.requestsPerSecond).toEqual(expect.any(Number))
      expect(replica.orderDigestVersion, 'a cluster made now extends its order digest with version 2').toBe(2)
    }
    const digests = new Set(report.replicas.map((r) => JSON.stringify(r.digest)))
    expect(digests.size, result.stdout).toBe(1)
    expect((report.replicas[0]!.digest as { position: number }).position).toBeGreaterThanOrEqual(3)
    // The mutex's summary of its state (statusSummary is on by default): bob holds the lock, nobody waits.
    for (const replica of report.replicas) expect(replica.summary, String(replica.id)).toEqual({ user: 'bob', waiting: { count: 0, items: [] } })

    const text = await runCli(['status', '--cluster', configFile])
    expect(text.code, text.stderr).toBe(0)
    expect(text.stdout).toMatch(/^replica +up +status +view +members +position +lag +peers +req\/s +digest +clock offset$/m)
    expect(text.stdout).toMatch(/^r2 +up +normal +\d+ +r1,r2,r3 +\d+ +\d+ +r1,r3 +[\d.]+ +[0-9a-f]{12}@\d+ +-$/m)
    expect(text.stdout).toMatch(/^summary: \{"user":"bob","waiting":\{"count":0,"items":\[\]\}\}$/m)
    const release = await runCli(['client', '--cluster', configFile, '--id', 'bob', 'release'])
    expect(release.code, release.stderr).toBe(0)
  })

  it('lockstep member list names the view and the configuration', async () => {
    const result = await runCli(['member', 'list', '--cluster', configFile, '--json'])
    expect(result.code, result.stderr).toBe(0)
    expect(JSON.parse(result.stdout)).toMatchObject({
      view: { id: expect.any(Number) as unknown, members: ['r1', 'r2', 'r3'] },
      configuration: ['r1', 'r2', 'r3'],
      replicas: [
        { id: 'r1', member: true, configured: true },
        { id: 'r2', member: true, configured: true },
        { id: 'r3', member: true, configured: true },
      ],
    })
    const text = await runCli(['member', 'list', '--cluster', configFile])
    expect(text.stdout).toMatch(/^view \d+: r1, r2, r3 \(reported by r\d\)$/m)
  })

  it('refuses a membership change that is not signed with the replica secret', async () => {
    const body = JSON.stringify({ action: 'remove', replica: 'r3' })
    const unsigned = await fetch(`${endpoint('r1')}/members`, { method: 'POST', body })
    expect(unsigned.status).toBe(401)
    expect(await unsigned.json()).toMatchObject({ ok: false, error: { code: 'AUTH_FAILED', message: expect.stringMatching(/no Authorization header/) as unknown } })
    const forged = await fetch(`${endpoint('r1')}/members`, { method: 'POST', body, headers: { authorization: `Lockstep-HMAC-SHA256 time=${Date.now()},mac=${'0'.repeat(64)}` } })
    expect(forged.status).toBe(401)
    expect(await forged.json()).toMatchObject({ ok: false, error: { code: 'AUTH_FAILED', message: expect.stringMatching(/signature does not match/) as unknown } })
    const status = (await (await fetch(`${endpoint('r1')}/status?digest=false`)).json()) as { view: { members: string[] } }
    expect(status.view.members).toEqual(['r1', 'r2', 'r3'])
  })

  it('refuses --cert and --key for a cluster without TLS (exit 2): its changes are signed with the replica secret', async () => {
    const result = await runCli(['member', 'remove', 'r3', '--cluster', configFile, '--cert', 'ops.pem', '--key', 'ops.key'])
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/--cert and --key sign membership changes of a TLS cluster, and .* has no security\.tls/)
  })

  it('lockstep member remove takes a replica out by a view change, and member add brings it back', async () => {
    const removed = await runCli(['member', 'remove', 'r3', '--cluster', configFile, '--json'])
    expect(removed.code, removed.stderr).toBe(0)
    expect(JSON.parse(removed.stdout)).toMatchObject({ ok: true, action: 'remove', replica: 'r3', view: { members: ['r1', 'r2'] }, configuration: ['r1', 'r2'] })
    // r3 still runs, outside the view (it asks to rejoin, refused): its health says it does not serve.
    let health: { code: number; body: unknown } = { code: 0, body: undefined }
    for (let attempt = 0; attempt < 100 && health.code !== 503; attempt++) {
      const response = await fetch(`${endpoint('r3')}/health`)
      health = { code: response.status, body: await response.json() }
      if (health.code !== 503) await new Promise((resolve) => setTimeout(resolve, 100))
    }
    expect(health).toEqual({ code: 503, body: { replica: 'r3', status: 'joining', view: expect.any(Number) as unknown, position: expect.any(Number) as unknown } })

    const listed = JSON.parse((await runCli(['member', 'list', '--cluster', configFile, '--json'])).stdout) as { replicas: unknown[] }
    expect(listed.replicas).toContainEqual({ id: 'r3', member: false, configured: false })

    const added = await runCli(['member', 'add', 'r3', '--cluster', configFile, '--json'])
    expect(added.code, added.stderr).toBe(0)
    expect(JSON.parse(added.stdout)).toMatchObject({ ok: true, action: 'add', replica: 'r3', view: { members: ['r1', 'r2', 'r3'] }, configuration: ['r1', 'r2', 'r3'] })

    const again = await runCli(['member', 'add', 'r3', '--cluster', configFile])
    expect(again.code).toBe(1)
    expect(again.stderr).toMatch(/^lockstep member: INVALID_ARGUMENT: replica r\d: 'r3' is already a member of view \d+ and in the configuration$/m)
    const unknown = await runCli(['member', 'remove', 'r9', '--cluster', configFile])
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toMatch(/'r9' is not a replica of .*cluster\.json/)
  })

  it('each replica serves /metrics and /health with plausible values', async () => {
    const health = await fetch(`${endpoint('r1')}/health`)
    expect(health.status).toBe(200)
    expect(await health.json()).toMatchObject({ replica: 'r1', status: 'normal', view: expect.any(Number) as unknown, position: expect.any(Number) as unknown })

    const response = await fetch(`${endpoint('r1')}/metrics`)
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/)
    const text = await response.text()
    expect(metric(text, 'lockstep_requests_total')).toBeGreaterThanOrEqual(2) // alice's acquire and release went to r1 first
    expect(metric(text, 'lockstep_deliveries_total')).toBeGreaterThanOrEqual(2)
    expect(metric(text, 'lockstep_position')).toBeGreaterThanOrEqual(2)
    expect(metric(text, 'lockstep_view')).toBeGreaterThanOrEqual(3) // the removal, then the admission
    expect(metric(text, 'lockstep_view_changes_total')).toBeGreaterThanOrEqual(2)
    expect(metric(text, 'lockstep_view_members')).toBe(3)
    expect(metric(text, 'lockstep_serving')).toBe(1)
    expect(metric(text, 'lockstep_peer_connections')).toBe(2)
    expect(metric(text, 'lockstep_client_connections')).toBeGreaterThanOrEqual(0)
    expect(metric(text, 'lockstep_shared_client_connections')).toBe(0)
    expect(metric(text, 'lockstep_stability_lag_requests')).toBeGreaterThanOrEqual(0)
    expect(metric(text, 'lockstep_stability_lag_seconds')).toBeGreaterThanOrEqual(0)
    expect(metric(text, 'lockstep_orderer_pending')).toBeGreaterThanOrEqual(0)
    expect(metric(text, 'lockstep_suspicions_total')).toBeGreaterThanOrEqual(0)
    expect(metric(text, 'lockstep_refused_connections_total')).toBeGreaterThanOrEqual(0)
    expect(metric(text, 'lockstep_wal_fsync_seconds_count')).toBeGreaterThan(0) // file storage: one sync per burst at least
    expect(text).toMatch(/^lockstep_wal_fsync_seconds_bucket\{le="0\.001",replica="r1"\} \d+$/m)
    expect(text).toMatch(/^lockstep_queue_depth\{queue="orderer",replica="r1"\} \d+$/m)
    expect(text).toMatch(/^# HELP lockstep_process_cpu_seconds_total /m)
  })

  it('replica logs are JSON lines with the replica id, view and position', () => {
    const lines = up
      .stderr()
      .split('\n')
      .filter((line) => line.startsWith('{'))
    expect(lines.length).toBeGreaterThan(3)
    const entries = logLines(lines.join('\n'))
    for (const entry of entries) expect(entry).toMatchObject({ level: expect.any(String) as unknown, time: expect.any(String) as unknown, replica: expect.stringMatching(/^r[123]$/) as unknown, msg: expect.any(String) as unknown })
    // The replicas cluster up runs (the pids it recorded) said where they listen, each once. A first try may have
    // started replicas too: when a port picked for it was taken meanwhile (another test's cluster), cluster up
    // stops them and starts all three again on other ports (upLocalCluster), and their lines are in the log.
    const listening = entries.filter((e) => typeof e.msg === 'string' && /^replica r\d listening on 127\.0\.0\.1:/.test(e.msg))
    const started = listening.filter((e) => pids.get(e.replica as string) === Number(/, pid (\d+)/.exec(e.msg as string)?.[1]))
    expect(started.map((e) => e.replica).sort(), listening.map((e) => e.msg).join('\n')).toEqual(['r1', 'r2', 'r3'])
    for (const entry of started) expect(entry).toMatchObject({ view: expect.any(Number) as unknown, position: expect.any(Number) as unknown })
    expect(entries).toContainEqual(expect.objectContaining({ level: 'warn', msg: expect.stringMatching(/^operator: remove replica 'r3' requested/) as unknown, view: expect.any(Number) as unknown, position: expect.any(Number) as unknown }))
  })

  it('lockstep cluster down stops cluster up and every replica, and then finds nothing to stop', async () => {
    const down = await runCli(['cluster', 'down', '--dir', clusterDir])
    expect(down.code, down.stderr).toBe(0)
    expect(down.stdout).toMatch(new RegExp(`^lockstep cluster down: stopped the cluster of .*: cluster up pid ${up.child.pid}, r1 pid ${pids.get('r1')}, r2 pid ${pids.get('r2')}, r3 pid ${pids.get('r3')}$`, 'm'))
    expect(await up.exited).toEqual({ code: 0, signal: null })
    for (const [id, pid] of pids) expect(isRunning(pid), `replica ${id} (pid ${pid})`).toBe(false)
    expect(existsSync(join(clusterDir, 'cluster.pid'))).toBe(false)

    const again = await runCli(['cluster', 'down', '--dir', clusterDir, '--json'])
    expect(again.code).toBe(1)
    expect(JSON.parse(again.stdout)).toMatchObject({ stopped: false, reason: 'not running' })
    const status = await runCli(['status', '--cluster', configFile, '--json', '--timeout-ms', '2000'])
    expect(status.code).toBe(1)
    expect((JSON.parse(status.stdout) as { replicas: unknown[] }).replicas).toContainEqual({ id: 'r1', up: false, error: { code: 'UNREACHABLE', message: expect.stringMatching(/ECONNREFUSED/) as unknown } })
  })
})
