import { execFile } from 'node:child_process'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { ClusterClientOptions } from '@lockstep/cli'

const run = promisify(execFile)

/** A client's TLS credentials, as `clusterClient` takes them. */
export type ClientCredentials = NonNullable<ClusterClientOptions['tls']>

/** A node id openssl takes into a subject as it is (`/CN=<id>/OU=<role>`). */
const SUBJECT_ID = /^[A-Za-z0-9._-]{1,64}$/

/** An EC P-256 key, as docs/transport-tcp.md makes them. */
const NEW_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']

/**
 * The certificates of a chaos run with mutual TLS, made with openssl the way docs/transport-tcp.md shows: a CA of
 * the run, a certificate per replica (CN = replica id, OU = replica), and one per client as the run makes it
 * (CN = client id, OU = client: with TLS each client proves its id by its own certificate).
 */
export class ChaosPki {
  private serial = 1

  private constructor(
    /** Where the CA, the certificates and their keys are. */
    readonly dir: string,
    /** The CA certificate (PEM). */
    readonly ca: string,
  ) {}

  /** Makes the run's CA in `dir` and a certificate for each of `replicas`. */
  static async create(dir: string, replicas: readonly string[]): Promise<ChaosPki> {
    await mkdir(dir, { recursive: true })
    await openssl(dir, ['req', '-x509', ...NEW_KEY, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '30', '-subj', '/CN=lockstep-chaos-ca'])
    await writeFile(join(dir, 'node.ext'), 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n')
    const pki = new ChaosPki(dir, await readFile(join(dir, 'ca.pem'), 'utf8'))
    for (const id of replicas) await pki.issue(id, 'replica')
    return pki
  }

  /** The CA certificate's path. */
  get caFile(): string {
    return join(this.dir, 'ca.pem')
  }

  /** Paths of the certificate and key of `id` in `role` (made by {@link issue}). */
  files(id: string): { readonly cert: string; readonly key: string } {
    return { cert: join(this.dir, `${id}.pem`), key: join(this.dir, `${id}.key`) }
  }

  /** A certificate and key for `id` in `role`, signed by the run's CA; returns their paths. */
  async issue(id: string, role: 'replica' | 'client'): Promise<{ readonly cert: string; readonly key: string }> {
    if (!SUBJECT_ID.test(id)) throw new Error(`chaos --tls: cannot make a certificate for '${id}': an id in a certificate here is 1 to 64 letters, digits, '.', '_' or '-'`)
    const serial = String(++this.serial)
    await openssl(this.dir, ['req', '-new', ...NEW_KEY, '-keyout', `${id}.key`, '-out', `${id}.csr`, '-subj', `/CN=${id}/OU=${role}`])
    await openssl(this.dir, ['x509', '-req', '-in', `${id}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', serial, '-days', '30', '-extfile', 'node.ext', '-out', `${id}.pem`])
    return this.files(id)
  }

  /** The credentials of a new client `id`: the CA, and a certificate made for it. */
  async client(id: string): Promise<ClientCredentials> {
    const { cert, key } = await this.issue(id, 'client')
    return { ca: this.ca, cert: await readFile(cert, 'utf8'), key: await readFile(key, 'utf8') }
  }
}

async function openssl(dir: string, args: readonly string[]): Promise<void> {
  try {
    await run('openssl', [...args], { cwd: dir })
  } catch (error) {
    const failure = error as NodeJS.ErrnoException & { stderr?: string }
    if (failure.code === 'ENOENT') throw new Error('chaos --tls makes the run\'s certificates with openssl, which is not on the PATH: install it (Debian: apt-get install openssl)')
    throw new Error(`chaos --tls: openssl ${args[0]} failed: ${(failure.stderr ?? failure.message).trim()}`)
  }
}
