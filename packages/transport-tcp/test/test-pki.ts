import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Whether an `openssl` binary can be run here. */
export function opensslAvailable(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/** A key and certificate in PEM. */
export interface KeyPair {
  readonly cert: string
  readonly key: string
}

/** A certificate authority that can issue node certificates. */
export interface TestCa {
  readonly cert: string
  /** Issues a certificate with subject CN = `commonName`, OU = `unit`. */
  issue(commonName: string, unit: string): KeyPair
  /** Revokes a certificate it issued: the next `crl()` lists it. */
  revoke(pair: KeyPair): void
  /** Its certificate revocation list (PEM), due for renewal after `seconds` (default 30 days). */
  crl(seconds?: number): string
}

/**
 * Test certificates made with openssl in a temporary folder (P-256 keys,
 * valid for 100 years), the same way docs/transport-tcp.md tells operators.
 */
export class TestPki {
  private readonly dir = mkdtempSync(join(tmpdir(), 'lockstep-pki-'))
  private serial = 1

  constructor() {
    writeFileSync(join(this.dir, 'leaf.ext'), 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n')
  }

  /** Creates a self-signed CA. */
  createCa(name: string): TestCa {
    const key = join(this.dir, `${name}.key`)
    const cert = join(this.dir, `${name}.crt`)
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '36500', '-subj', `/CN=${name}`])
    // What `openssl ca` needs to revoke and to make revocation lists: a database of what it revoked, a list number.
    const config = join(this.dir, `${name}.cnf`)
    writeFileSync(join(this.dir, `${name}.index`), '')
    writeFileSync(join(this.dir, `${name}.crlnumber`), '01\n')
    writeFileSync(config, `[ca]\ndefault_ca = ca_default\n[ca_default]\ndatabase = ${join(this.dir, `${name}.index`)}\ncrlnumber = ${join(this.dir, `${name}.crlnumber`)}\ndefault_md = sha256\n`)
    const ca = ['ca', '-config', config, '-keyfile', key, '-cert', cert]
    return {
      cert: readFileSync(cert, 'utf8'),
      issue: (commonName, unit) => this.issue(key, cert, `${name}-${commonName}-${unit}`, commonName, unit),
      revoke: (pair) => {
        const file = join(this.dir, `${name}-revoked-${this.serial++}.crt`)
        writeFileSync(file, pair.cert)
        openssl([...ca, '-revoke', file])
      },
      crl: (seconds = 30 * 24 * 3600) => {
        const out = join(this.dir, `${name}.crl`)
        openssl([...ca, '-gencrl', '-crlsec', String(seconds), '-out', out])
        return readFileSync(out, 'utf8')
      },
    }
  }

  /** Deletes the temporary folder. */
  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true })
  }

  private issue(caKey: string, caCert: string, fileName: string, commonName: string, unit: string): KeyPair {
    const key = join(this.dir, `${fileName}.key`)
    const csr = join(this.dir, `${fileName}.csr`)
    const cert = join(this.dir, `${fileName}.crt`)
    openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${commonName}/OU=${unit}`])
    this.serial += 1
    openssl(['x509', '-req', '-in', csr, '-CA', caCert, '-CAkey', caKey, '-set_serial', String(this.serial), '-days', '36500', '-extfile', join(this.dir, 'leaf.ext'), '-out', cert])
    return { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') }
  }
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] })
}
