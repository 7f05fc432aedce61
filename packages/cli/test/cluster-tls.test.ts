import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { parseClusterConfig } from '../src/cluster-config'
import { startLocalCluster, type LocalCluster } from '../src/local-cluster'
import { issueCertificates, opensslAvailable } from './certificates'
import { requireBuiltCli, runCli, stopEverything, untilReport, type ReplicaReport } from './processes'

const canRun = opensslAvailable()
let dir: string
let cluster: LocalCluster | undefined

// Never a skip: without openssl every test here fails and says why (as the Chromium tests do without chromium).
beforeEach(() => {
  if (!canRun) throw new Error('no openssl binary on the PATH to make the test certificates: install it (Debian: apt-get install -y openssl)')
})

/**
 * Three replicas of `machine` with mutual TLS in `dir` (each with an operator endpoint), and certificates for
 * `clients` and `operators` there.
 */
async function startTlsCluster(dir: string, machine: string, clients: string[], operators: string[] = []): Promise<LocalCluster> {
  issueCertificates(dir, [['r1', 'replica'], ['r2', 'replica'], ['r3', 'replica'], ...clients.map((id) => [id, 'client'] as const), ...operators.map((id) => [id, 'operator'] as const)])
  const { freePorts } = await import('../src/index')
  const ports = await freePorts(6)
  const document = {
    clusterId: 'tls-test',
    replicas: ['r1', 'r2', 'r3'].map((id, i) => ({ id, host: '127.0.0.1', port: ports[i], metricsPort: ports[i + 3], tls: { cert: `${id}.pem`, key: `${id}.key` } })),
    machine,
    security: { tls: { ca: 'ca.pem' } },
  }
  const file = join(dir, 'cluster.json')
  await writeFile(file, JSON.stringify(document, null, 2))
  return startLocalCluster(parseClusterConfig(JSON.stringify(document), file))
}

beforeAll(async () => {
  if (!canRun) return
  requireBuiltCli()
  dir = await mkdtemp(join(tmpdir(), 'lockstep-tls-'))
  cluster = await startTlsCluster(dir, 'register', ['alice', 'bob'], ['ops'])
}, 90_000)

afterAll(async () => {
  await stopEverything([cluster], dir)
}, 60_000)

describe('a cluster with mutual TLS (no secrets)', () => {
  // A certificate names one client session, so each invocation below uses its own (see docs/running-a-cluster.md).
  it('replicas authenticate with certificates; a client presents its own, and its id is the certificate CN', async () => {
    const file = cluster!.configFile
    const write = await runCli(['client', '--cluster', file, '--cert', join(dir, 'alice.pem'), '--key', join(dir, 'alice.key'), 'write', '{"value":42}'])
    expect(write).toMatchObject({ code: 0, stderr: '' })
    expect(JSON.parse(write.stdout)).toMatchObject({ ok: true, outputs: [{}], client: 'alice' })
    const read = await runCli(['client', '--cluster', file, '--cert', join(dir, 'bob.pem'), '--key', join(dir, 'bob.key'), '--replica', 'r3', 'read'])
    expect(read).toMatchObject({ code: 0, stderr: '' })
    expect(JSON.parse(read.stdout)).toMatchObject({ ok: true, outputs: [{ value: 42 }], client: 'bob' })
  })

  it('refuses a client without a certificate (exit 2), and at once one whose id does not match its certificate (AUTH_FAILED)', async () => {
    const file = cluster!.configFile
    const missing = await runCli(['client', '--cluster', file, 'read'])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toMatch(/uses TLS \(security\.tls\): pass --cert and --key/)
    // Ten minutes: a client that waited for its timeout would hang past the test's own timeout.
    const impostor = await runCli(['client', '--cluster', file, '--cert', join(dir, 'alice.pem'), '--key', join(dir, 'alice.key'), '--id', 'mallory', '--timeout-ms', '600000', 'read'])
    expect(impostor.code).toBe(1)
    expect(impostor.stderr).toMatch(/^lockstep client: AUTH_FAILED: client 'mallory': every replica refused it: mallory -> r1 at 127\.0\.0\.1:\d+: refused by r1: client "mallory": certificate CN "alice" does not match node id "mallory"/m)
  }, 30_000)

  it('refuses at once a client whose certificate another CA issued (AUTH_FAILED)', async () => {
    const other = join(dir, 'other-ca')
    await mkdir(other)
    issueCertificates(other, [['carol', 'client']])
    const result = await runCli(['client', '--cluster', cluster!.configFile, '--cert', join(other, 'carol.pem'), '--key', join(other, 'carol.key'), '--timeout-ms', '600000', 'read'])
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/^lockstep client: AUTH_FAILED: client 'carol': every replica refused it: carol -> r1 at 127\.0\.0\.1:\d+: TLS: .*certificate/m)
  }, 30_000)

  it("changes membership signed with an operator's certificate, or by default a replica's; refuses a client's (AUTH_FAILED)", async () => {
    const file = cluster!.configFile
    const until = (id: string, what: string, check: (report: ReplicaReport) => boolean) => untilReport(cluster!.config, id, what, check)
    const asClient = await runCli(['member', 'remove', 'r3', '--cluster', file, '--cert', join(dir, 'bob.pem'), '--key', join(dir, 'bob.key'), '--json'])
    expect(asClient.code).toBe(1)
    expect(JSON.parse(asClient.stderr)).toMatchObject({ ok: false, error: { code: 'AUTH_FAILED', message: expect.stringMatching(/"CN=bob, OU=client" may not change membership/) as unknown } })
    const halfPair = await runCli(['member', 'remove', 'r3', '--cluster', file, '--cert', join(dir, 'ops.pem')])
    expect(halfPair.code).toBe(2)
    expect(halfPair.stderr).toMatch(/--cert and --key go together/)
    // On a machine that holds no replica's key, and without --cert: nothing to sign with.
    const elsewhere = join(dir, 'elsewhere')
    await mkdir(elsewhere)
    const copy = JSON.parse(await readFile(file, 'utf8')) as { replicas: { tls: { cert: string; key: string } }[]; security: { tls: { ca: string } } }
    copy.security.tls.ca = join(dir, 'ca.pem')
    await writeFile(join(elsewhere, 'cluster.json'), JSON.stringify(copy))
    const unsigned = await runCli(['member', 'remove', 'r3', '--cluster', join(elsewhere, 'cluster.json')])
    expect(unsigned.code).toBe(2)
    expect(unsigned.stderr).toMatch(/uses TLS and none of its replica certificates can be used here \(r1: .*r1\.pem.*\): pass --cert and --key, an operator's certificate/)

    const removed = await runCli(['member', 'remove', 'r3', '--cluster', file, '--cert', join(dir, 'ops.pem'), '--key', join(dir, 'ops.key')])
    expect(removed.code, removed.stderr).toBe(0)
    expect(removed.stderr).toMatch(/r3 to be removed \(asked r[12] in view \d+, signed by ops's certificate\)/)
    expect(removed.stdout).toMatch(/^removed r3: view \d+ is r1, r2$/m)
    const write = await runCli(['client', '--cluster', file, '--cert', join(dir, 'alice.pem'), '--key', join(dir, 'alice.key'), 'write', '{"value":7}'])
    expect(write.code, write.stderr).toBe(0)

    // No --cert: the first replica certificate of cluster.json that can be read here (r1's) signs.
    const added = await runCli(['member', 'add', 'r3', '--cluster', file, '--json'])
    expect(added.code, added.stderr).toBe(0)
    expect(JSON.parse(added.stdout)).toMatchObject({ ok: true, action: 'add', replica: 'r3', view: { members: ['r1', 'r2', 'r3'] }, configuration: ['r1', 'r2', 'r3'] })
    await until('r3', 'r3 serving again', (s) => s.status === 'normal' && s.view.members.includes('r3'))
    const read = await runCli(['client', '--cluster', file, '--cert', join(dir, 'bob.pem'), '--key', join(dir, 'bob.key'), '--replica', 'r3', 'read'])
    expect(read.code, read.stderr).toBe(0)
    expect(JSON.parse(read.stdout)).toMatchObject({ ok: true, outputs: [{ value: 7 }] })
  }, 120_000)
})

describe('lockstep bench against a cluster with mutual TLS', () => {
  let benchDir: string
  let kvCluster: LocalCluster | undefined
  beforeAll(async () => {
    if (!canRun) return
    benchDir = await mkdtemp(join(tmpdir(), 'lockstep-tls-bench-'))
    kvCluster = await startTlsCluster(benchDir, 'kv', ['carol', 'dave'])
  }, 90_000)
  afterAll(async () => {
    await stopEverything([kvCluster], benchDir)
  }, 60_000)
  const pair = (id: string) => ['--cert', join(benchDir, `${id}.pem`), '--key', join(benchDir, `${id}.key`)]

  it('measures with one client per certificate (--clients is their number), each client known by its CN', async () => {
    const file = kvCluster!.configFile
    const run = await runCli(['bench', '--cluster', file, '--workload', 'put', ...pair('carol'), ...pair('dave'), '--in-flight', '4', '--duration', '0.5', '--warmup', '0.2', '--json'])
    expect(run).toMatchObject({ code: 0, stderr: '' })
    const result = JSON.parse(run.stdout)
    expect(result).toMatchObject({ workload: 'put', clients: 2, in_flight: 4, errors: 0, replicas: 3 })
    expect(result.ops).toBeGreaterThan(0)
    // The puts went in under the certificates' ids: a client reads back what the bench wrote.
    const get = await runCli(['client', '--cluster', file, ...pair('carol'), 'get', '{"key":"lockstep-bench-0"}'])
    expect(get).toMatchObject({ code: 0, stderr: '' })
    expect(JSON.parse(get.stdout)).toMatchObject({ ok: true, client: 'carol' })
    expect(JSON.parse(get.stdout).outputs[0].value).toBeTypeOf('string')
  }, 60_000)

  it('refuses a TLS cluster without certificates, more clients than certificates, shared connections, a certificate twice, a certificate without its key (exit 2)', async () => {
    const file = kvCluster!.configFile
    const short = ['--workload', 'put', '--duration', '0.2', '--warmup', '0']
    const none = await runCli(['bench', '--cluster', file, ...short])
    expect(none.code).toBe(2)
    expect(none.stderr).toMatch(/lockstep bench: .*uses TLS \(security\.tls\): pass --cert and --key/)
    const more = await runCli(['bench', '--cluster', file, ...short, ...pair('carol'), '--clients', '3'])
    expect(more.code).toBe(2)
    expect(more.stderr).toMatch(/--clients 3 with 1 certificates: under TLS each client is known by its own certificate/)
    const shared = await runCli(['bench', '--cluster', file, ...short, ...pair('carol'), '--shared-connections'])
    expect(shared.code).toBe(2)
    expect(shared.stderr).toMatch(/--shared-connections with a TLS cluster/)
    const twice = await runCli(['bench', '--cluster', file, ...short, ...pair('carol'), ...pair('carol')])
    expect(twice.code).toBe(2)
    expect(twice.stderr).toMatch(/each --cert must name a client of its own \(its CN\): got carol, carol/)
    const lonely = await runCli(['bench', '--cluster', file, ...short, '--cert', join(benchDir, 'carol.pem')])
    expect(lonely.code).toBe(2)
    expect(lonely.stderr).toMatch(/--cert and --key go together/)
  }, 60_000)
})
