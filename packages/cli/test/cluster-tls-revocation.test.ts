import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { parseClusterConfig } from '../src/cluster-config'
import { startLocalCluster, type LocalCluster } from '../src/local-cluster'
import { issueCertificates, opensslAvailable, revokeCertificates } from './certificates'
import { requireBuiltCli, runCli, stopEverything } from './processes'

// A TLS cluster with a certificate revocation list (security.tls.crl): what the list names, a client or an operator,
// is refused; the others are not; a list that does not fit the cluster's CA stops a replica from starting.
const canRun = opensslAvailable()
let dir: string
let cluster: LocalCluster | undefined
let document: Record<string, unknown>
/** The replicas' log lines (warn and error). */
const logged: string[] = []

// Without openssl every test here fails and says why: none is left out.
beforeEach(() => {
  if (!canRun) throw new Error('no openssl binary on the PATH to make the test certificates: install it (Debian: apt-get install -y openssl)')
})

beforeAll(async () => {
  if (!canRun) return
  requireBuiltCli()
  dir = await mkdtemp(join(tmpdir(), 'lockstep-tls-crl-'))
  issueCertificates(dir, [['r1', 'replica'], ['r2', 'replica'], ['r3', 'replica'], ['alice', 'client'], ['bob', 'client'], ['eve', 'client'], ['ops', 'operator'], ['oscar', 'operator']])
  // eve's and oscar's keys leaked: the operator revoked their certificates.
  const crl = revokeCertificates(dir, ['eve', 'oscar'])
  const { freePorts } = await import('../src/index')
  const ports = await freePorts(6)
  document = {
    clusterId: 'tls-crl-test',
    replicas: ['r1', 'r2', 'r3'].map((id, i) => ({ id, host: '127.0.0.1', port: ports[i], metricsPort: ports[i + 3], tls: { cert: `${id}.pem`, key: `${id}.key` } })),
    machine: 'register',
    security: { tls: { ca: 'ca.pem', crl } },
  }
  const file = join(dir, 'cluster.json')
  await writeFile(file, JSON.stringify(document, null, 2))
  cluster = await startLocalCluster(parseClusterConfig(JSON.stringify(document), file), { onLog: (line) => logged.push(line) })
}, 90_000)

afterAll(async () => {
  await stopEverything([cluster], dir)
}, 60_000)

const pair = (id: string) => ['--cert', join(dir, `${id}.pem`), '--key', join(dir, `${id}.key`)]

describe('a TLS cluster with a certificate revocation list', () => {
  it('serves a client whose certificate is not revoked, and refuses at once one whose certificate is (AUTH_FAILED)', async () => {
    const file = cluster!.configFile
    const write = await runCli(['client', '--cluster', file, ...pair('alice'), 'write', '{"value":5}'])
    expect(write).toMatchObject({ code: 0, stderr: '' })
    // Ten minutes: a client that waited for its timeout would hang past the test's own timeout.
    const revoked = await runCli(['client', '--cluster', file, ...pair('eve'), '--timeout-ms', '600000', 'read'])
    expect(revoked.code).toBe(1)
    expect(revoked.stderr).toMatch(/^lockstep client: AUTH_FAILED: client 'eve': every replica refused it: eve -> r1 at 127\.0\.0\.1:\d+: TLS: the replica closed the connection right after the TLS handshake, before answering: it did not accept this node's certificate \(is it issued by the cluster's CA, and not revoked\?\)/m)
  }, 30_000)

  it("refuses a membership change signed with a revoked operator's certificate, naming the list", async () => {
    const file = cluster!.configFile
    const revoked = await runCli(['member', 'remove', 'r3', '--cluster', file, ...pair('oscar'), '--json'])
    expect(revoked.code).toBe(1)
    expect(JSON.parse(revoked.stderr)).toMatchObject({ ok: false, error: { code: 'AUTH_FAILED', message: expect.stringMatching(/"CN=oscar, OU=operator" was revoked: the revocation list of CN=lockstep-test-ca \(security\.tls\.crl\) names its serial number /) as unknown } })
    const listed = await runCli(['member', 'list', '--cluster', file, '--json'])
    expect(listed.code, listed.stderr).toBe(0)
    expect(JSON.parse(listed.stdout)).toMatchObject({ configuration: ['r1', 'r2', 'r3'] })
  }, 60_000)

  it("shows when each list is due for renewal on every replica's /metrics", async () => {
    const { replicas } = document as { replicas: { id: string; metricsPort: number }[] }
    const crl = (await import('@lockstep/transport-tcp')).readRevocationLists(await readFile(join(dir, 'ca.crl'), 'utf8'), 'ca.crl')
    const due = crl[0]!.nextUpdate!.getTime() / 1000
    for (const replica of replicas) {
      const text = await (await fetch(`http://127.0.0.1:${replica.metricsPort}/metrics`)).text()
      const line = text.split('\n').find((l) => l.startsWith('lockstep_tls_revocation_list_next_update_seconds{'))
      expect(line, replica.id).toMatch(/issuer="CN=lockstep-test-ca"/)
      expect(Number(line!.split(' ').pop())).toBe(due)
    }
  }, 30_000)

  it('a replica and a client refuse a list that does not fit the cluster (another CA\'s), naming it (exit 2)', async () => {
    const other = join(dir, 'other')
    await mkdir(other)
    issueCertificates(other, [['x', 'client']], 'other-ca')
    revokeCertificates(other, ['x'], 'other-ca')
    const file = join(dir, 'foreign-crl.json')
    await writeFile(file, JSON.stringify({ ...document, security: { tls: { ca: 'ca.pem', crl: ['ca.crl', 'other/other-ca.crl'] } } }))
    const replica = await runCli(['replica', '--config', file, '--id', 'r1'])
    expect(replica.code).toBe(2)
    expect(replica.stderr).toMatch(/\/security\/tls\/crl: the revocation list of CN=lockstep-test-other-ca was not signed by a CA of the cluster/)
    const client = await runCli(['client', '--cluster', file, ...pair('alice'), 'read'])
    expect(client.code).toBe(2)
    expect(client.stderr).toMatch(/\/security\/tls\/crl: the revocation list of CN=lockstep-test-other-ca was not signed by a CA of the cluster/)
  }, 30_000)

  it('reads the lists again on SIGHUP: a certificate revoked since is refused; an unfit list is refused and the lists in use stay', async () => {
    const file = cluster!.configFile
    const before = await runCli(['client', '--cluster', file, ...pair('alice'), 'read'])
    expect(before.code, before.stderr).toBe(0)
    const nextUpdate = async (port: number) => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
      return Number(text.split('\n').find((l) => l.startsWith('lockstep_tls_revocation_list_next_update_seconds{'))!.split(' ').pop())
    }
    const { replicas } = document as { replicas: { id: string; metricsPort: number }[] }
    const first = await nextUpdate(replicas[0]!.metricsPort)
    // A list that is not one: every replica says so at error level and keeps its lists.
    const crl = join(dir, 'ca.crl')
    const good = await readFile(crl, 'utf8')
    await writeFile(crl, 'not a list')
    for (const replica of cluster!.replicas) process.kill(replica.pid, 'SIGHUP')
    await until(() => logged.filter((line) => line.includes('SIGHUP: the revocation lists were not read again, the ones in use stay')).length === 3)
    expect(logged.find((line) => line.includes('SIGHUP: the revocation lists were not read again'))).toMatch(/\/security\/tls\/crl: .*ca\.crl: holds no certificate revocation list/)
    await writeFile(crl, good)
    // alice's key leaked too: a new list revokes her certificate as well (due a day later than the first).
    revokeCertificates(dir, ['alice'], 'ca', 31 * 86_400)
    for (const replica of cluster!.replicas) process.kill(replica.pid, 'SIGHUP')
    for (const replica of replicas) await until(async () => (await nextUpdate(replica.metricsPort)) > first)
    const after = await runCli(['client', '--cluster', file, ...pair('alice'), '--timeout-ms', '600000', 'read'])
    expect(after.code).toBe(1)
    expect(after.stderr).toMatch(/AUTH_FAILED: client 'alice': every replica refused it: .*it did not accept this node's certificate/)
    const write = await runCli(['client', '--cluster', file, ...pair('bob'), 'write', '{"value":6}'])
    expect(write.code, write.stderr).toBe(0)
  }, 60_000)
})

/** Polls `condition` every 50 ms (the test's timeout guards against a hang). */
async function until(condition: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await condition())) await new Promise((resolve) => setTimeout(resolve, 50))
}
