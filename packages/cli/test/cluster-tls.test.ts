import { execFileSync } from 'node:child_process'
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { parseClusterConfig, startLocalCluster, type LocalCluster } from '../src/index'
import { requireBuiltCli, runCli, stopEverything } from './processes'

function opensslAvailable(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

const openssl = (dir: string, args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] })

/** A CA and certificates with CN = node id, OU = role, made with openssl as docs/running-a-cluster.md shows. */
function issueCertificates(dir: string, nodes: [string, 'replica' | 'client'][]): void {
  const curve = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  openssl(dir, ['req', '-x509', ...curve, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '3650', '-subj', '/CN=lockstep-test-ca'])
  execFileSync('sh', ['-c', 'printf "basicConstraints=CA:FALSE\\nkeyUsage=digitalSignature\\nextendedKeyUsage=serverAuth,clientAuth\\n" > leaf.ext'], { cwd: dir })
  nodes.forEach(([id, role], i) => {
    openssl(dir, ['req', '-new', ...curve, '-keyout', `${id}.key`, '-out', `${id}.csr`, '-subj', `/CN=${id}/OU=${role}`])
    openssl(dir, ['x509', '-req', '-in', `${id}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', String(i + 2), '-days', '3650', '-extfile', 'leaf.ext', '-out', `${id}.pem`])
  })
}

const canRun = opensslAvailable()
let dir: string
let cluster: LocalCluster | undefined

// Never a skip: without openssl every test here fails and says why (as the Chromium tests do without chromium).
beforeEach(() => {
  if (!canRun) throw new Error('no openssl binary on the PATH to make the test certificates: install it (Debian: apt-get install -y openssl)')
})

beforeAll(async () => {
  if (!canRun) return
  requireBuiltCli()
  dir = await mkdtemp(join(tmpdir(), 'lockstep-tls-'))
  issueCertificates(dir, [['r1', 'replica'], ['r2', 'replica'], ['r3', 'replica'], ['alice', 'client'], ['bob', 'client']])
  const { freePorts } = await import('../src/index')
  const ports = await freePorts(3)
  const document = {
    clusterId: 'tls-test',
    replicas: ['r1', 'r2', 'r3'].map((id, i) => ({ id, host: '127.0.0.1', port: ports[i], tls: { cert: `${id}.pem`, key: `${id}.key` } })),
    machine: 'register',
    security: { tls: { ca: 'ca.pem' } },
  }
  const file = join(dir, 'cluster.json')
  await writeFile(file, JSON.stringify(document, null, 2))
  cluster = await startLocalCluster(parseClusterConfig(JSON.stringify(document), file))
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
})
