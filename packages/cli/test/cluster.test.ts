import { spawn } from 'node:child_process'
import { createServer, type Socket } from 'node:net'
import { readFile, stat, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePorts, writeLocalClusterConfig } from '../src/local-cluster'
import { main } from '../src/main'
import { parseClusterConfig } from '../src/cluster-config'
import { memoryIo } from './io'
import { cliBinPath, isRunning, killEverything, logLines, requireBuiltCli, runCli, startCli, trackPid, waitFor, type CliProcess } from './processes'

let dir: string
let up: CliProcess
let configFile: string
const replicas: { id: string; port: number; pid: number }[] = []

beforeAll(async () => {
  requireBuiltCli()
  dir = await mkdtemp(join(tmpdir(), 'lockstep-cluster-up-'))
  up = startCli(['cluster', 'up', '--replicas', '3', '--machine', 'kv', '--base-port', '0', '--dir', join(dir, 'cluster'), '--log-level', 'warn'])
  await waitFor('cluster up to be ready', () => up.stdout().includes('cluster ready') || up.child.exitCode !== null, 60_000)
  for (const match of up.stdout().matchAll(/^ {2}(r\d+)\s+127\.0\.0\.1:(\d+)\s+pid (\d+)(?: {2}metrics http:\/\/\S+)?$/gm)) {
    replicas.push({ id: match[1]!, port: Number(match[2]), pid: Number(match[3]) })
    trackPid(Number(match[3]))
  }
  configFile = join(dir, 'cluster', 'cluster.json')
}, 90_000)

afterAll(async () => {
  killEverything()
  await rm(dir, { recursive: true, force: true })
})

describe('lockstep cluster up', () => {
  it('prints the config path, every replica address and how to run a client; writes the config and secrets', async () => {
    expect(up.child.exitCode).toBeNull()
    const out = up.stdout()
    expect(out).toMatch(/^lockstep cluster: 3 replicas of kv, lamport ordering, on 127\.0\.0\.1$/m)
    expect(out).toContain(`config   ${configFile}`)
    expect(out).toContain(`npx lockstep client --cluster ${configFile} put '{"key":"a","value":"1"}'`)
    expect(replicas.map((r) => r.id)).toEqual(['r1', 'r2', 'r3'])
    for (const replica of replicas) expect(isRunning(replica.pid)).toBe(true)

    const config = parseClusterConfig(await readFile(configFile, 'utf8'), configFile)
    expect(config.replicas.map((r) => [r.id, r.host, r.port])).toEqual(replicas.map((r) => [r.id, '127.0.0.1', r.port]))
    expect(config).toMatchObject({ order: 'lamport', machine: 'kv', security: { replicaSecret: { file: 'replica.secret' }, clientSecret: { file: 'client.secret' } } })
    for (const secret of ['replica.secret', 'client.secret']) {
      expect((await stat(join(dir, 'cluster', secret))).mode & 0o777).toBe(0o600)
      expect((await readFile(join(dir, 'cluster', secret), 'utf8')).trim()).toMatch(/^[0-9a-f]{64}$/)
    }
  })

  it('refuses a second cluster up in the same directory while the first runs', async () => {
    const second = await runCli(['cluster', 'up', '--base-port', '0', '--dir', join(dir, 'cluster')])
    expect(second.code).toBe(2)
    expect(second.stderr).toMatch(new RegExp(`a cluster started from .*cluster is still running \\(cluster up pid ${up.child.pid}\\)`))
    expect(await readFile(join(dir, 'cluster', 'cluster.pid'), 'utf8')).toBe(`${up.child.pid}\n`)
  })

  it('lockstep client submits one command and prints the client-visible result as JSON', async () => {
    const put = await runCli(['client', '--cluster', configFile, 'put', '{"key":"a","value":"1"}'])
    expect(put).toMatchObject({ code: 0, stderr: '' })
    const putResult = JSON.parse(put.stdout)
    expect(putResult).toMatchObject({ ok: true, outputs: [{}], seq: 1 })
    expect(putResult.client).toMatch(/^cli-/)

    const get = await runCli(['client', '--cluster', configFile, '--id', 'reader', '--replica', 'r2', 'get', '{"key":"a"}'])
    expect(get).toMatchObject({ code: 0, stderr: '' })
    const getResult = JSON.parse(get.stdout)
    expect(getResult).toMatchObject({ ok: true, outputs: [{ value: '1' }], client: 'reader', seq: 1 })
    expect(getResult.position).toBeGreaterThan(putResult.position)
  })

  it('an error reply exits 1 with the error as JSON on stderr', async () => {
    const result = await runCli(['client', '--cluster', configFile, 'put', '{"key":"a"}'])
    expect(result.code).toBe(1)
    expect(result.stdout).toBe('')
    expect(JSON.parse(result.stderr)).toMatchObject({ ok: false, error: { code: 'INVALID_COMMAND', path: '/args/value' } })
  })

  it('bad usage exits 2', async () => {
    const cases: [string[], RegExp][] = [
      [['client', '--cluster', configFile], /the command name is required/],
      [['client', '--cluster', configFile, 'put', '{"key":'], /json-args is not valid JSON/],
      [['client', 'get', '{"key":"a"}'], /--cluster is required/],
      [['client', '--cluster', configFile, '--id', 'r1', 'get', '{"key":"a"}'], /--id r1 is a replica's id/],
      [['client', '--cluster', configFile, '--replica', 'r7', 'get', '{"key":"a"}'], /--replica r7 is not a replica of/],
      [['client', '--cluster', configFile, '--timeout-ms', 'soon', 'get'], /--timeout-ms must be a whole number/],
    ]
    for (const [args, message] of cases) {
      const { io, stderr } = memoryIo()
      expect(await main(args, io), args.join(' ')).toBe(2)
      expect(stderr()).toMatch(message)
    }
  })

  /** A copy of cluster.json beside it (the secrets it names are relative to its folder), changed by `change`. */
  async function variant(name: string, change: (config: any) => void | Promise<void>): Promise<string> {
    const config = JSON.parse(await readFile(configFile, 'utf8'))
    await change(config)
    const file = join(dir, 'cluster', name)
    await writeFile(file, JSON.stringify(config))
    return file
  }
  /** Ten minutes: a client that waited for its timeout would hang past the test's own timeout. */
  const longTimeout = ['--timeout-ms', '600000']

  it('exits 1 with TIMEOUT when the replicas accept connections but never answer in time', async () => {
    const silent = await Promise.all([0, 1, 2].map(() => silentListener()))
    try {
      const file = await variant('silent.json', (config) => config.replicas.forEach((replica: { port: number }, i: number) => (replica.port = silent[i]!.port)))
      const result = await runCli(['client', '--cluster', file, '--timeout-ms', '300', 'get', '{"key":"a"}'])
      expect(result.code).toBe(1)
      expect(result.stdout).toBe('')
      expect(result.stderr).toMatch(/^lockstep client: TIMEOUT: no replica of .*silent\.json answered within 300 ms \(r1 at 127\.0\.0\.1:\d+, r2/m)
    } finally {
      await Promise.all(silent.map((listener) => listener.close()))
    }
  })

  it('exits 1 at once with UNREACHABLE when no replica runs there (connection refused on every one)', async () => {
    const ports = await freePorts(3)
    const file = await variant('nowhere.json', (config) => config.replicas.forEach((replica: { port: number }, i: number) => (replica.port = ports[i]!)))
    const result = await runCli(['client', '--cluster', file, ...longTimeout, 'get', '{"key":"a"}'])
    expect(result.code).toBe(1)
    expect(result.stdout).toBe('')
    expect(result.stderr).toMatch(
      new RegExp(`^lockstep client: UNREACHABLE: client '[^']+': every replica refused it: \\S+ -> r1 at 127\\.0\\.0\\.1:${ports[0]}: connection refused \\(ECONNREFUSED\\)`, 'm'),
    )
    expect(result.stderr).toMatch(/Check that the cluster is running and that its addresses are right \(cluster .*nowhere\.json\)$/m)
  }, 30_000)

  it('exits 1 at once with AUTH_FAILED when the client secret is wrong', async () => {
    await writeFile(join(dir, 'cluster', 'wrong-client.secret'), 'f'.repeat(64), { mode: 0o600 })
    const file = await variant('wrong-secret.json', (config) => void (config.security.clientSecret = { file: 'wrong-client.secret' }))
    const result = await runCli(['client', '--cluster', file, ...longTimeout, 'get', '{"key":"a"}'])
    expect(result.code).toBe(1)
    expect(result.stdout).toBe('')
    expect(result.stderr).toMatch(/^lockstep client: AUTH_FAILED: client '[^']+': every replica refused it: .* -> r1 at 127\.0\.0\.1:\d+: authentication failed: "r1" did not prove the client secret/m)
    expect(result.stderr).toMatch(/Check the client secret or certificate \(cluster .*wrong-secret\.json\)$/m)
  }, 30_000)

  it('exits 1 at once with CLUSTER_MISMATCH when the cluster id is wrong', async () => {
    const file = await variant('wrong-cluster.json', (config) => void (config.clusterId = 'another-cluster'))
    const result = await runCli(['client', '--cluster', file, '--id', 'misdirected', ...longTimeout, 'get', '{"key":"a"}'])
    expect(result.code).toBe(1)
    expect(result.stdout).toBe('')
    expect(result.stderr).toMatch(/^lockstep client: CLUSTER_MISMATCH: client 'misdirected': every replica refused it: misdirected -> r1 at 127\.0\.0\.1:\d+: refused by r1: node "misdirected" belongs to cluster "another-cluster", not "[^"]+"/m)
  }, 30_000)

  it('says so when a replica dies, and the others go on without it', async () => {
    const victim = replicas[2]!
    process.kill(victim.pid, 'SIGKILL')
    await waitFor('cluster up to report the dead replica', () => up.stderr().includes('exited unexpectedly'))
    expect(up.stderr()).toContain(`replica r3 (pid ${victim.pid}) exited unexpectedly (signal SIGKILL); the 2 others go on without it`)
    expect(up.stderr()).toContain(`npx lockstep replica --config ${configFile} --id r3`)
    const put = await runCli(['client', '--cluster', configFile, '--replica', 'r3', 'put', '{"key":"b","value":"2"}'])
    expect(put).toMatchObject({ code: 0, stderr: '' })
    expect(JSON.parse(put.stdout)).toMatchObject({ ok: true, outputs: [{}] })
    expect(up.child.exitCode).toBeNull()
  })

  it('stops every replica cleanly on SIGINT and exits 0', async () => {
    up.child.kill('SIGINT')
    const { code } = await up.exited
    expect(code).toBe(0)
    expect(up.stderr()).toContain('lockstep cluster: SIGINT: stopping 2 replicas')
    expect(up.stdout()).toMatch(/^lockstep cluster: stopped \(r1 pid \d+, r2 pid \d+, r3 pid \d+\)$/m)
    for (const replica of replicas) expect(isRunning(replica.pid), replica.id).toBe(false)
    await expect(stat(join(dir, 'cluster', 'cluster.pid'))).rejects.toMatchObject({ code: 'ENOENT' })
  })
})

describe('lockstep replica on its own', () => {
  it('logs to stderr with its id, serves clients, and exits 0 on SIGINT after closing everything', async () => {
    const [port] = await freePorts(1)
    const file = join(dir, 'single.json')
    await writeFile(join(dir, 'single.replica'), 'r'.repeat(32))
    await writeFile(join(dir, 'single.client'), 'c'.repeat(32))
    await writeFile(file, JSON.stringify({
      replicas: [{ id: 'solo', host: '127.0.0.1', port }],
      machine: 'register',
      security: { replicaSecret: { file: 'single.replica' }, clientSecret: { file: 'single.client' } },
    }))
    const replica = startCli(['replica', '--config', file, '--id', 'solo', '--metrics-port', '0'])
    await waitFor('the replica to listen', () => replica.stderr().includes(`replica solo listening on 127.0.0.1:${port}`) || replica.child.exitCode !== null)
    // --metrics-port 0 picks a free port for the operator endpoint; the line that says it listens names it.
    const metricsUrl = /metrics, health and status on (http:\/\/127\.0\.0\.1:\d+)/.exec(replica.stderr())?.[1]
    expect(metricsUrl, replica.stderr()).toBeDefined()
    const health = await fetch(`${metricsUrl!}/health`)
    expect({ code: health.status, body: await health.json() }).toEqual({ code: 200, body: { replica: 'solo', status: 'normal', view: 1, position: 0 } })
    expect(logLines(replica.stderr())).toContainEqual(
      expect.objectContaining({ level: 'info', replica: 'solo', view: 1, position: 0, msg: expect.stringMatching(/^replica solo listening on 127\.0\.0\.1:\d+: cluster lockstep \(solo\), machine register, lamport ordering, pid \d+; metrics, health and status on http:\/\/127\.0\.0\.1:\d+$/) as unknown }),
    )

    const write = await runCli(['client', '--cluster', file, 'write', '{"value":"x"}'])
    expect(write).toMatchObject({ code: 0, stderr: '' })
    expect(JSON.parse(write.stdout)).toMatchObject({ ok: true, outputs: [{}], position: 1 })
    const metrics = await (await fetch(`${metricsUrl!}/metrics`)).text()
    expect(metrics).toMatch(/^lockstep_requests_total\{replica="solo"\} 1$/m)
    expect(metrics).toMatch(/^lockstep_deliveries_total\{replica="solo"\} 1$/m)
    expect(metrics).toMatch(/^lockstep_position\{replica="solo"\} 1$/m)
    expect(metrics).toMatch(/^lockstep_wal_fsync_seconds_count\{replica="solo"\} 0$/m) // memory storage: no disk

    replica.child.kill('SIGINT')
    const { code } = await replica.exited
    expect(code).toBe(0)
    expect(replica.stdout()).toBe('')
    const lines = logLines(replica.stderr())
    expect(lines).toContainEqual(expect.objectContaining({ level: 'info', replica: 'solo', view: 1, position: 1, msg: 'stopping (SIGINT) at position 1' }))
    expect(lines).toContainEqual(expect.objectContaining({ level: 'info', replica: 'solo', msg: 'stopped: engine halted, sockets closed' }))
    // Every line is a JSON object with an ISO time, the replica id, its view and position.
    for (const line of lines) expect(line).toMatchObject({ time: expect.stringMatching(/^\d{4}-\d\d-\d\dT[\d:.]+Z$/) as unknown, replica: 'solo', view: 1, position: expect.any(Number) as unknown })
  })
})

describe('a replica started with an IPC channel', () => {
  it('stops by itself when its parent goes away while it is still starting', async () => {
    const config = await writeLocalClusterConfig({ dir: join(dir, 'orphan'), replicas: 1, machine: 'kv', basePort: 0 })
    const child = spawn(process.execPath, [cliBinPath, 'replica', '--config', config.file, '--id', 'r1', '--log-level', 'info'], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] })
    trackPid(child.pid!)
    let stderr = ''
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    child.disconnect() // before the replica has even loaded its configuration
    expect(await exited).toBe(0)
    expect(logLines(stderr)).toContainEqual(expect.objectContaining({ level: 'info', replica: 'r1', msg: expect.stringMatching(/^stopping \(the parent process went away\)/) as unknown }))
  })

  // Found by cli/test/unclean-stop.test.ts under load: a replica sent SIGTERM as soon as the cluster listened (a stop
  // right after the start) ended by the signal, without stopping, because it told its parent it listened before it
  // handled SIGTERM. The parent here sends SIGTERM the moment the message arrives.
  it('stops cleanly on a SIGTERM sent the moment it says it listens', async () => {
    const config = await writeLocalClusterConfig({ dir: join(dir, 'prompt-stop'), replicas: 1, machine: 'kv', basePort: 0, metrics: false })
    for (let round = 0; round < 8; round++) {
      const child = spawn(process.execPath, [cliBinPath, 'replica', '--config', config.file, '--id', 'r1', '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] })
      trackPid(child.pid!)
      child.stderr!.resume()
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
      child.on('message', (message: { event?: string }) => {
        if (message?.event === 'listening') child.kill('SIGTERM')
      })
      expect(await exited, `round ${round}`).toEqual({ code: 0, signal: null })
    }
  }, 60_000)
})

describe('lockstep cluster up: bad usage', () => {
  it('exits 2 before starting anything', async () => {
    const cases: [string[], RegExp][] = [
      [['cluster'], /a subcommand is required/],
      [['cluster', 'sideways'], /unknown subcommand 'sideways'/],
      [['cluster', 'up', '--order', 'paxos'], /--order 'paxos' is not available; this version orders with: lamport/],
      [['cluster', 'up', '--machine', 'mutexx'], /--machine 'mutexx' is neither a built-in machine/],
      [['cluster', 'up', '--replicas', '0'], /--replicas must be a whole number from 1 to 15/],
      [['cluster', 'up', '--base-port', '65535'], /--base-port 65535 leaves no room for 3 replicas/],
      [['cluster', 'up', '--machine', join(tmpdir(), 'no-such-machine.mjs')], /--machine: the module .*no-such-machine\.mjs could not be loaded/],
    ]
    for (const [args, message] of cases) {
      const { io, stderr } = memoryIo()
      expect(await main(args, io), args.join(' ')).toBe(2)
      expect(stderr()).toMatch(message)
    }
  })
})

/** A TCP listener on 127.0.0.1 that accepts connections and never says a word: a replica that is only slow. */
async function silentListener(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.on('error', () => {}).on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as { port: number }).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  }
}
