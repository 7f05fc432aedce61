import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { main } from '../src/main'
import { validateClusterConfig, parseClusterConfig, DEFAULT_TIMEOUTS } from '../src/cluster-config'
import { loadMachine } from '../src/machine-source'
import { memoryIo } from './io'
import { killEverything, requireBuiltCli, runCli } from './processes'

const secret = (fill: string) => ({ value: fill.repeat(32) })

/** A valid three-replica configuration; tests break one thing at a time. */
function validConfig(): Record<string, any> {
  return {
    clusterId: 'test',
    replicas: [
      { id: 'r1', host: '127.0.0.1', port: 7401 },
      { id: 'r2', host: '127.0.0.1', port: 7402 },
      { id: 'r3', host: '127.0.0.1', port: 7403 },
    ],
    order: 'lamport',
    machine: 'kv',
    security: { replicaSecret: secret('a'), clientSecret: secret('b') },
  }
}

let dir: string
let counter = 0
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lockstep-config-'))
})
afterAll(async () => {
  killEverything()
  await rm(dir, { recursive: true, force: true })
})

async function writeConfig(document: unknown): Promise<string> {
  const file = join(dir, `cluster-${++counter}.json`)
  await writeFile(file, typeof document === 'string' ? document : JSON.stringify(document, null, 2))
  return file
}

/** Runs `lockstep replica` on a configuration in this process (it fails before binding anything). */
async function replicaOn(document: unknown, id = 'r1') {
  const file = await writeConfig(document)
  const { io, stdout, stderr } = memoryIo()
  const code = await main(['replica', '--config', file, '--id', id], io)
  return { code, stdout: stdout(), stderr: stderr(), file }
}

describe('cluster configuration validation', () => {
  const invalid: [string, (c: Record<string, any>) => unknown, RegExp[]][] = [
    ['missing replicas', (c) => void delete c.replicas, [/^ {2}\/replicas: is required$/m]],
    ['an empty replica list', (c) => void (c.replicas = []), [/^ {2}\/replicas: must NOT have fewer than 1 items \(got \[\]\)$/m]],
    ['a port above 65535', (c) => void (c.replicas[1].port = 70000), [/^ {2}\/replicas\/1\/port: must be <= 65535 \(got 70000\)$/m]],
    ['a port that is not a number', (c) => void (c.replicas[0].port = '7401'), [/^ {2}\/replicas\/0\/port: must be an integer \(got "7401"\)$/m]],
    ['port 0', (c) => void (c.replicas[2].port = 0), [/^ {2}\/replicas\/2\/port: must be >= 1 \(got 0\)$/m]],
    ['an unknown order', (c) => void (c.order = 'paxos'), [/^ {2}\/order: must be one of: "lamport", "realtime" \(got "paxos"\)$/m]],
    ['a negative clock skew bound', (c) => void (c.realtime = { maxSkewMs: -1 }), [/^ {2}\/realtime\/maxSkewMs: must be >= 0 \(got -1\)$/m]],
    ['an unknown real-time setting', (c) => void (c.realtime = { delta: 5 }), [/^ {2}\/realtime\/delta: is not a known field/m]],
    ['duplicate replica ids', (c) => void (c.replicas[2].id = 'r1'), [/^ {2}\/replicas\/2\/id: duplicate replica id "r1" \(also \/replicas\/0\/id\)/m]],
    ['two replicas on one address', (c) => void (c.replicas[1].port = 7401), [/^ {2}\/replicas\/1\/port: 127\.0\.0\.1:7401 is also the address of \/replicas\/0/m]],
    ['a metrics port on a replica\'s address', (c) => void (c.replicas[1].metricsPort = 7401), [/^ {2}\/replicas\/1\/metricsPort: 127\.0\.0\.1:7401 is also the address of \/replicas\/0; every port may serve one thing only$/m]],
    ['a metrics port above 65535', (c) => void (c.replicas[0].metricsPort = 70000), [/^ {2}\/replicas\/0\/metricsPort: must be <= 65535 \(got 70000\)$/m]],
    ['an unknown machine name', (c) => void (c.machine = 'mutexx'), [/^ {2}\/machine: "mutexx" is neither a built-in machine \(mutex, register, kv\) nor the path/m]],
    ['a machine that is not a string', (c) => void (c.machine = 42), [/^ {2}\/machine: must be a string \(got 42\)$/m]],
    ['a missing machine', (c) => void delete c.machine, [/^ {2}\/machine: is required$/m]],
    ['a replica id with a space', (c) => void (c.replicas[0].id = 'r 1'), [/^ {2}\/replicas\/0\/id: Replica id: letters, digits/m]],
    ['an unknown field', (c) => void (c.replica = []), [/^ {2}\/replica: is not a known field \(expected one of: clusterId, replicas, order, voter, realtime, machine, storage, security, timeouts, limits, sessions, stateDigestEvery, statusSummary\)$/m]],
    ['a secret with two sources', (c) => void (c.security.clientSecret = { file: 'x', env: 'Y' }), [/^ {2}\/security\/clientSecret: must have exactly one of: file, env, value/m]],
    ['a short inline secret', (c) => void (c.security.replicaSecret = { value: 'short' }), [/^ {2}\/security\/replicaSecret\/value: must NOT have fewer than 16 characters/m]],
    ['file storage without a directory', (c) => void (c.storage = { type: 'file' }), [/^ {2}\/storage\/dir: is required$/m]],
    ['a zero timeout', (c) => void (c.timeouts = { clientTimeoutMs: 0 }), [/^ {2}\/timeouts\/clientTimeoutMs: must be >= 1 \(got 0\)$/m]],
    ['TLS with a replica secret and a replica without a certificate', (c) => {
      c.security.tls = { ca: 'ca.pem' }
      c.replicas[0].tls = { cert: 'r1.pem', key: 'r1.key' }
      c.replicas[1].tls = { cert: 'r2.pem', key: 'r2.key' }
    }, [/^ {2}\/replicas\/2\/tls: is required when security\.tls is set/m, /^ {2}\/security\/replicaSecret: must not be set together with security\.tls/m]],
    ['certificates without a CA', (c) => void (c.replicas[0].tls = { cert: 'r1.pem', key: 'r1.key' }), [/^ {2}\/security\/tls: is required when replicas have certificates \(\/replicas\/0\/tls\)/m]],
  ]

  for (const [name, breakIt, messages] of invalid) {
    it(`exits 2 naming the JSON path for ${name}`, async () => {
      const document = validConfig()
      breakIt(document)
      const { code, stderr, file } = await replicaOn(document)
      expect(code).toBe(2)
      expect(stderr).toContain(`${file} is not a valid cluster configuration`)
      for (const message of messages) expect(stderr).toMatch(message)
    })
  }

  it('reports every problem at once, in document order', async () => {
    const document = validConfig()
    delete document.machine
    document.replicas[1].port = -1
    document.replicas[2].id = 'r1'
    document.order = 'raft'
    const { code, stderr } = await replicaOn(document)
    expect(code).toBe(2)
    expect(stderr).toMatch(/\(4 problems\)/)
    const paths = [...stderr.matchAll(/^ {2}(\/\S*):/gm)].map((m) => m[1])
    expect(paths).toEqual(['/machine', '/order', '/replicas/1/port', '/replicas/2/id'])
  })

  it('exits 2 for text that is not JSON, and for a file that does not exist', async () => {
    const broken = await replicaOn('{"replicas": [')
    expect(broken.code).toBe(2)
    expect(broken.stderr).toMatch(/^ {2}\/: is not valid JSON/m)
    const { io, stderr } = memoryIo()
    expect(await main(['replica', '--config', join(dir, 'missing.json'), '--id', 'r1'], io)).toBe(2)
    expect(stderr()).toMatch(/cannot read the cluster configuration .*missing\.json/)
  })

  it('exits 2 when the id is not a replica, or a secret is missing or unreadable', async () => {
    const notMember = await replicaOn(validConfig(), 'r9')
    expect(notMember.code).toBe(2)
    expect(notMember.stderr).toMatch(/--id r9: not a replica of .* \(its replicas: r1, r2, r3\)/)

    const noSecret = validConfig()
    delete noSecret.security.replicaSecret
    const missing = await replicaOn(noSecret)
    expect(missing.code).toBe(2)
    expect(missing.stderr).toMatch(/^ {2}\/security\/replicaSecret: is required unless security\.tls is set/m)

    const unreadable = validConfig()
    unreadable.security.clientSecret = { file: 'no-such.secret' }
    const result = await replicaOn(unreadable)
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/^ {2}\/security\/clientSecret\/file: cannot read .*no-such\.secret/m)

    const same = validConfig()
    same.security.clientSecret = same.security.replicaSecret
    const reused = await replicaOn(same)
    expect(reused.code).toBe(2)
    expect(reused.stderr).toMatch(/\/security\/clientSecret: must differ from security\.replicaSecret/)
  })

  it('lockstep client checks the same file and exits 2', async () => {
    const document = validConfig()
    document.replicas[0].host = ''
    const file = await writeConfig(document)
    const { io, stderr } = memoryIo()
    expect(await main(['client', '--cluster', file, 'get', '{"key":"a"}'], io)).toBe(2)
    expect(stderr()).toMatch(/^ {2}\/replicas\/0\/host: must NOT have fewer than 1 characters/m)
  })

  it('takes the real-time orderer with its bounds', () => {
    const result = validateClusterConfig({ replicas: [{ id: 'a', host: 'localhost', port: 1 }], machine: 'kv', order: 'realtime', realtime: { maxDelayMs: 20, maxSkewMs: 2 } })
    expect(result).toMatchObject({ ok: true, config: { order: 'realtime', realtime: { maxDelayMs: 20, maxSkewMs: 2 } } })
  })

  it('a Δ below two hops plus skew stops the replica with the option named', async () => {
    const document = validConfig()
    document.order = 'realtime'
    document.realtime = { maxDelayMs: 50, maxSkewMs: 5, deltaMs: 20 }
    const { code, stderr } = await replicaOn(document)
    expect(code).not.toBe(0)
    expect(stderr).toMatch(/deltaMs/)
  })

  it('statusSummary: true by default, false keeps the machine\'s summary off GET /status, anything else is refused', () => {
    const base = { machine: 'mutex', replicas: [{ id: 'r1', host: '127.0.0.1', port: 1 }] }
    expect(validateClusterConfig({ ...base, statusSummary: false })).toMatchObject({ ok: true, config: { statusSummary: false } })
    expect(validateClusterConfig({ ...base, statusSummary: 'no' })).toMatchObject({ ok: false, problems: [{ path: '/statusSummary' }] })
  })

  it('fills in defaults for a minimal valid file', () => {
    const result = validateClusterConfig({ replicas: [{ id: 'a', host: 'localhost', port: 1 }], machine: 'mutex' })
    expect(result).toEqual({
      ok: true,
      config: {
        clusterId: 'lockstep',
        replicas: [{ id: 'a', host: 'localhost', port: 1 }],
        order: 'lamport',
        realtime: {},
        machine: 'mutex',
        storage: { type: 'memory' },
        security: {},
        sessions: {},
        timeouts: DEFAULT_TIMEOUTS,
        limits: {},
        voter: 'first',
        stateDigestEvery: 1000,
        statusSummary: true,
      },
    })
  })

  it('prints the JSON Schema with lockstep cluster schema', async () => {
    const { io, stdout } = memoryIo()
    expect(await main(['cluster', 'schema'], io)).toBe(0)
    const schema = JSON.parse(stdout())
    expect(schema.required).toEqual(['replicas', 'machine'])
    expect(Object.keys(schema.properties)).toEqual(['$schema', 'clusterId', 'replicas', 'order', 'voter', 'realtime', 'machine', 'storage', 'security', 'timeouts', 'limits', 'sessions', 'stateDigestEvery', 'statusSummary'])
  })

  it('the built binary exits 2 with the problems on stderr', async () => {
    requireBuiltCli()
    const document = validConfig()
    document.replicas[0].port = 99999
    const file = await writeConfig(document)
    const { code, stdout, stderr } = await runCli(['replica', '--config', file, '--id', 'r1'])
    expect(code).toBe(2)
    expect(stdout).toBe('')
    expect(stderr).toMatch(/^ {2}\/replicas\/0\/port: must be <= 65535 \(got 99999\)$/m)
  })
})

describe('machines named by the configuration', () => {
  it('compiles a DSL spec (.sm) into a working machine', async () => {
    const spec = join(dir, 'lock.sm')
    await writeFile(spec, `mutex: state_machine
  var user: client_id init Φ;
      waiting: list of client_id init Φ;
  acquire: command
    if user = Φ -> send OK to client; user := client
    if user != Φ -> waiting := waiting ● client
  end acquire
  release: command
    if waiting = Φ -> user := Φ
    if waiting != Φ -> send OK to head(waiting); user := head(waiting); waiting := tail(waiting)
  end release
end mutex
`)
    const { io } = memoryIo()
    const machine = await loadMachine('lock.sm', dir, io)
    const state = machine.init()
    expect(machine.apply(state, { name: 'acquire' }, { client: 'alice' } as never)).toEqual([{ to: 'alice', value: 'OK' }])
    expect(machine.apply(state, { name: 'acquire' }, { client: 'bob' } as never)).toEqual([])
    expect(machine.apply(state, { name: 'release' }, { client: 'alice' } as never)).toEqual([{ to: 'bob', value: 'OK' }])
  })

  it('reports a spec with errors as a configuration problem at /machine', async () => {
    await writeFile(join(dir, 'broken.sm'), 'mutex: state_machine\n  var user: client_id init Φ\n')
    const { io } = memoryIo()
    await expect(loadMachine('broken.sm', dir, io)).rejects.toMatchObject({ code: 'INVALID_CONFIG', message: expect.stringMatching(/^\/machine: .*broken\.sm/) })
  })

  it('loads a JavaScript module exporting machine, and rejects one that does not', async () => {
    await writeFile(join(dir, 'counter.mjs'), `export const machine = { name: 'counter', init: () => ({ n: 0 }), apply: (s) => [{ to: 'x', value: ++s.n }], snapshot: () => new Uint8Array(), restore: () => ({ n: 0 }) }\n`)
    await writeFile(join(dir, 'empty.mjs'), 'export const nothing = 1\n')
    const { io } = memoryIo()
    expect((await loadMachine('counter.mjs', dir, io)).name).toBe('counter')
    await expect(loadMachine('empty.mjs', dir, io)).rejects.toMatchObject({ code: 'INVALID_CONFIG', message: expect.stringMatching(/must export 'machine'/) })
  })

  it("a module whose machine's init throws: the built binary exits 1 naming the machine and the method, with no stack dump", async () => {
    requireBuiltCli()
    await writeFile(join(dir, 'needs-config.mjs'), `export const machine = { name: 'needs-config', init: () => { throw new Error('no settings file') }, apply: () => [], snapshot: () => new Uint8Array(), restore: () => ({}) }\n`)
    const document = validConfig()
    document.machine = join(dir, 'needs-config.mjs')
    const { code, stderr } = await runCli(['replica', '--config', await writeConfig(document), '--id', 'r1'])
    expect(code, stderr).toBe(1)
    expect(stderr).toContain("machine 'needs-config' failed in init: no settings file")
    expect(stderr).not.toMatch(/^\s+at /m)
  })

  it('resolves relative paths against the configuration file', () => {
    const config = parseClusterConfig(JSON.stringify({ replicas: [{ id: 'a', host: 'h', port: 1 }], machine: 'specs/lock.sm' }), '/etc/lockstep/cluster.json')
    expect(config.baseDir).toBe('/etc/lockstep')
    expect(config.file).toBe('/etc/lockstep/cluster.json')
  })
})
