import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { silentLogger } from '@lockstep/interface'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { clusterClient, type ClusterClient } from '../src/cluster-client'
import { freePorts } from '../src/local-cluster'
import { parseClusterConfig, type LoadedClusterConfig } from '../src/cluster-config'
import { processIo } from '../src/io'
import { startReplica, type RunningReplica } from '../src/replica-runner'
import { issueCertificates, opensslAvailable, revokeCertificates } from './certificates'

// A long-running client program of a TLS cluster with revocation lists (security.tls.crl) takes renewed lists
// without restarting: `clusterClient(…).reloadRevocationLists()`. Three replicas run in this process (no build
// needed), over TCP on 127.0.0.1.
const canRun = opensslAvailable()
let dir: string
let config: LoadedClusterConfig
let document: { readonly security: { readonly tls: Record<string, unknown> } } & Record<string, unknown>
const replicas: RunningReplica[] = []

// Without openssl every test here fails and says why: none is left out.
beforeEach(() => {
  if (!canRun) throw new Error('no openssl binary on the PATH to make the test certificates: install it (Debian: apt-get install -y openssl)')
})

beforeAll(async () => {
  if (!canRun) return
  dir = await mkdtemp(join(tmpdir(), 'lockstep-client-crl-'))
  issueCertificates(dir, [['r1', 'replica'], ['r2', 'replica'], ['r3', 'replica'], ['bob', 'client']])
  const crl = revokeCertificates(dir, [])
  const ports = await freePorts(3)
  document = {
    clusterId: 'client-crl-test',
    replicas: ['r1', 'r2', 'r3'].map((id, i) => ({ id, host: '127.0.0.1', port: ports[i], tls: { cert: `${id}.pem`, key: `${id}.key` } })),
    machine: 'register',
    security: { tls: { ca: 'ca.pem', crl } },
  }
  const file = join(dir, 'cluster.json')
  await writeFile(file, JSON.stringify(document, null, 2))
  config = parseClusterConfig(JSON.stringify(document), file)
  for (const id of ['r1', 'r2', 'r3']) replicas.push(await startReplica(config, id, processIo, silentLogger))
}, 60_000)

afterAll(async () => {
  await Promise.all(replicas.map((replica) => replica.stop()))
  if (dir) await rm(dir, { recursive: true, force: true })
}, 60_000)

describe("a client program's revocation lists (clusterClient)", () => {
  it('reads the lists again: its connection to a replica they revoke closes and it goes on with the others; an unfit list is refused and the lists in use stay', async () => {
    const lines: string[] = []
    const record = (message: string) => lines.push(message)
    const client: ClusterClient = await clusterClient(config, {
      id: 'bob',
      preferred: 'r3',
      tls: { ca: await readFile(join(dir, 'ca.pem'), 'utf8'), cert: await readFile(join(dir, 'bob.pem'), 'utf8'), key: await readFile(join(dir, 'bob.key'), 'utf8') },
      logger: { debug: record, info: record, warn: record, error: record },
      retryAfterMs: 500,
    })
    await client.start()
    try {
      expect((await client.submit({ name: 'write', args: { value: 7 } })).ok).toBe(true)
      // A list that is not one: refused, naming it; the lists in use stay and the client goes on.
      const crl = join(dir, 'ca.crl')
      const good = await readFile(crl, 'utf8')
      await writeFile(crl, 'not a list')
      await expect(client.reloadRevocationLists()).rejects.toThrow(/\/security\/tls\/crl: .*ca\.crl: holds no certificate revocation list/)
      await writeFile(crl, good)
      expect((await client.submit({ name: 'write', args: { value: 8 } })).ok).toBe(true)
      expect(lines.filter((line) => /CERT_REVOKED|is revoked/.test(line))).toEqual([])
      // r3's key leaked: the new list revokes its certificate (the replicas have not read it). The client's
      // connection to r3 closes, the client refuses r3 when it reconnects, and its requests go to r1 and r2.
      revokeCertificates(dir, ['r3'])
      const reloaded = await client.reloadRevocationLists()
      expect(reloaded?.closed).toBe(1)
      expect(reloaded?.lists).toHaveLength(1)
      const reply = await client.submit({ name: 'write', args: { value: 9 } })
      expect(reply.ok).toBe(true)
      await until(() => lines.some((line) => /CERT_REVOKED/.test(line)))
      expect((await client.submit({ name: 'read' })).ok).toBe(true)
    } finally {
      await client.stop()
    }
  }, 60_000)

  it('checks the lists it reads again against its CA given as bytes, as it was given', async () => {
    const client = await clusterClient(config, { id: 'dave', tls: { ca: await readFile(join(dir, 'ca.pem')), cert: await readFile(join(dir, 'bob.pem')), key: await readFile(join(dir, 'bob.key')) } })
    const reloaded = await client.reloadRevocationLists()
    expect(reloaded?.lists).toHaveLength(1)
    expect(reloaded?.closed).toBe(0)
  })

  it('a client of a cluster without lists has none to read again', async () => {
    const { crl: _, ...tls } = document.security.tls
    const withoutLists = parseClusterConfig(JSON.stringify({ ...document, security: { tls } }), join(dir, 'cluster.json'))
    const client = await clusterClient(withoutLists, { id: 'carol', tls: { ca: await readFile(join(dir, 'ca.pem'), 'utf8'), cert: await readFile(join(dir, 'bob.pem'), 'utf8'), key: await readFile(join(dir, 'bob.key'), 'utf8') } })
    expect(await client.reloadRevocationLists()).toBeUndefined()
  })
})

/** Polls `condition` every 50 ms (the test's timeout guards against a hang). */
async function until(condition: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await condition())) await new Promise((resolve) => setTimeout(resolve, 50))
}
