import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { generateReplicaKeys } from '@lockstep/voting'
import { parseClusterConfig, validateClusterConfig } from '../src/cluster-config'
import { useLocalCluster } from './local-cluster-fixture'
import { runCli } from './processes'

// Issue 13, item 3: a reader asks ONE replica for a reply's evidence and verifies it with the public keys.
const local = useLocalCluster('lockstep-verify-')

describe('lockstep client --verify', () => {
  it('cluster up gives every replica a key pair: the public key in cluster.json, the private key in a file of mode 600', async () => {
    const config = parseClusterConfig(await readFile(local.cluster.configFile, 'utf8'), local.cluster.configFile)
    for (const replica of config.replicas) {
      expect(replica.publicKey).toMatch(/^[A-Za-z0-9+/]{43}=$/)
      expect(replica.signingKey).toBe(`${replica.id}.signing-key`)
      const file = join(config.baseDir, replica.signingKey!)
      expect((await stat(file)).mode & 0o777).toBe(0o600)
      expect((await readFile(file, 'utf8')).trim()).toMatch(/^[A-Za-z0-9+/]{43}=$/)
    }
    expect(config.stateDigestEvery).toBe(1000)
  })

  it('prints the reply verified with t+1 signatures, asking the first replica or --verify-at', async () => {
    const put = await runCli(['client', '--cluster', local.cluster.configFile, '--verify', 'put', '{"key":"v","value":"1"}'])
    expect(put.stderr).toBe('')
    expect(put.code).toBe(0)
    expect(JSON.parse(put.stdout)).toMatchObject({ ok: true, outputs: [{}], verified: true, servedBy: 'r1', t: 1, signers: expect.arrayContaining(['r1']) })
    expect(JSON.parse(put.stdout).signers.length).toBeGreaterThanOrEqual(2)

    const get = await runCli(['client', '--cluster', local.cluster.configFile, '--verify', '--verify-at', 'r3', 'get', '{"key":"v"}'])
    expect(get.stderr).toBe('')
    expect(get.code).toBe(0)
    expect(JSON.parse(get.stdout)).toMatchObject({ ok: true, outputs: [{ value: '1' }], verified: true, servedBy: 'r3', signers: expect.arrayContaining(['r3']) })
  })

  it('exits 1 with EVIDENCE_INVALID when the evidence does not verify with the public keys the reader holds', async () => {
    // The reader's configuration names other public keys for r1 and r2: their signatures do not count, r3's alone is not t+1.
    const text = await readFile(local.cluster.configFile, 'utf8')
    const document = JSON.parse(text) as { replicas: { id: string; publicKey: string; signingKey?: string }[] }
    for (const replica of document.replicas) {
      delete replica.signingKey
      if (replica.id !== 'r3') replica.publicKey = generateReplicaKeys().publicKey
    }
    const readerConfig = join(local.dir, 'cluster', 'reader.json')
    await writeFile(readerConfig, JSON.stringify(document), 'utf8')
    const result = await runCli(['client', '--cluster', readerConfig, '--verify', '--verify-at', 'r2', 'put', '{"key":"w","value":"2"}'])
    expect(result.code).toBe(1)
    expect(result.stdout).toBe('')
    expect(result.stderr).toMatch(/^lockstep client: EVIDENCE_INVALID: the reply to cli-[^#]+#1 could not be verified: the evidence replica 'r2' served for cli-[^#]+#1 does not verify: only 1 distinct known replica validly signed/m)
  })

  it('bad usage exits 2: --verify-at without --verify, or naming no replica', async () => {
    const alone = await runCli(['client', '--cluster', local.cluster.configFile, '--verify-at', 'r2', 'get', '{"key":"v"}'])
    expect(alone.code).toBe(2)
    expect(alone.stderr).toMatch(/--verify-at goes with --verify/)
    const unknown = await runCli(['client', '--cluster', local.cluster.configFile, '--verify', '--verify-at', 'r9', 'get', '{"key":"v"}'])
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toMatch(/--verify-at r9 is not a replica of/)
  })

  it('the configuration needs a publicKey with a signingKey, and a key of the right form', () => {
    const base = { machine: 'kv', security: { replicaSecret: { value: 'x'.repeat(16) }, clientSecret: { value: 'y'.repeat(16) } } }
    const noPublic = validateClusterConfig({ ...base, replicas: [{ id: 'r1', host: '127.0.0.1', port: 1, signingKey: 'r1.key' }] })
    expect(noPublic).toMatchObject({ ok: false, problems: [{ path: '/replicas/0/publicKey', message: expect.stringMatching(/is required when signingKey is set/) }] })
    const badKey = validateClusterConfig({ ...base, replicas: [{ id: 'r1', host: '127.0.0.1', port: 1, publicKey: 'not a key' }] })
    expect(badKey).toMatchObject({ ok: false, problems: [{ path: '/replicas/0/publicKey' }] })
    const digests = validateClusterConfig({ ...base, replicas: [{ id: 'r1', host: '127.0.0.1', port: 1 }], stateDigestEvery: -1 })
    expect(digests).toMatchObject({ ok: false, problems: [{ path: '/stateDigestEvery' }] })
  })
})
