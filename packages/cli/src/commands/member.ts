import { X509Certificate, createPrivateKey } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { ErrorCodes, LockstepError } from '@lockstep/interface'
import { intFlag, parseFlags } from '../args'
import { configPath, loadClusterConfig, readSecret, type LoadedClusterConfig } from '../cluster-config'
import { ExitCode, type Io } from '../io'
import { subjectFields, type OperatorCertificate } from '../operator-auth'
import type { MembershipRequestBody } from '../operator-endpoint'
import { ENDPOINT_TIMEOUT_MS, postSigned, statusOfAll, type OperatorSigner } from '../replica-endpoints'
import type { ReplicaStatusReport } from '../replica-metrics'

/** Help text of `lockstep member`. */
export const memberUsage = `lockstep member list --cluster <cluster.json> [--json]
lockstep member add <replica id> --cluster <cluster.json> [--json] [--timeout-ms 30000] [--cert FILE --key FILE]
lockstep member remove <replica id> --cluster <cluster.json> [--json] [--timeout-ms 30000] [--cert FILE --key FILE]

list    The current view (its id and members) and the configuration, as the
        replicas serving in the highest view report them on their operator
        endpoints (metricsPort in cluster.json).
remove  Removes a member through the ordered, majority-agreed view change
        (like a failure: nothing it held is lost). It stays out, even if it
        asks to rejoin, until it is added again.
add     Admits a replica of cluster.json (one removed before, or a spare): it
        joins by the next view change and takes the state by transfer. Its
        process must run (\`lockstep replica --config ... --id <id>\`).
add and remove are sent to a serving replica's endpoint, signed with the
replica secret (HMAC-SHA256; the secret never travels), or in a TLS cluster
with a certificate the cluster's CA issued and its key (the key never
travels), and wait until the change is installed (a view without / with the
replica).
  --cluster     the cluster's configuration (as written by \`lockstep cluster up\`)
  --json        print one JSON object instead of text
  --timeout-ms  how long add and remove wait for the view change (default 30000)
  --cert, --key a TLS cluster's: the certificate (PEM) that signs, an
                operator's (OU = operator) or a replica's (OU = replica, CN =
                its id), and its key. Default: the first replica certificate
                of cluster.json whose files this machine can read.
Exit 0 on success; 1 when no replica answered, the change was refused (a
wrong signature or certificate: AUTH_FAILED), or it was not installed in time
(TIMEOUT); 2 for bad usage or an invalid configuration (--cert without TLS,
a TLS cluster with no certificate to sign with).`

/** `lockstep member`: list, add or remove members through the ordered view change. */
export async function memberCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseFlags('member', args, {
    cluster: { type: 'string' },
    json: { type: 'boolean' },
    'timeout-ms': { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  })
  if (values.help) {
    io.stdout(memberUsage)
    return ExitCode.OK
  }
  const [action, replica, ...rest] = positionals
  const usageError = (problem: string) => {
    io.stderr(`lockstep member: ${problem}\n\n${memberUsage}`)
    return ExitCode.USAGE
  }
  if (action !== 'list' && action !== 'add' && action !== 'remove') return usageError(action === undefined ? 'a subcommand is required: list, add or remove' : `unknown subcommand '${action}'`)
  const file = values.cluster as string | undefined
  if (!file) return usageError('--cluster is required')
  if (action === 'list' && replica !== undefined) return usageError(`member list takes no replica id (got '${replica}')`)
  if (action !== 'list' && replica === undefined) return usageError(`member ${action} needs the replica id`)
  if (rest.length > 0) return usageError(`unexpected arguments: ${rest.join(' ')}`)
  const timeoutMs = intFlag('member', 'timeout-ms', values['timeout-ms'] as string | undefined, 30_000, 1, 3_600_000)
  const config = await loadClusterConfig(file, io)
  const json = values.json === true
  if (action === 'list') return list(config, io, json)
  if (!config.replicas.some((r) => r.id === replica)) return usageError(`'${replica}' is not a replica of ${config.file} (${config.replicas.map((r) => r.id).join(', ')}); add it there first`)
  const cert = values.cert as string | undefined
  const key = values.key as string | undefined
  if ((cert === undefined) !== (key === undefined)) return usageError('--cert and --key go together: the certificate that signs and its key')
  const signer = await operatorSigner(config, io, cert === undefined ? undefined : { cert, key: key! })
  return change(config, io, json, action, replica!, signer, timeoutMs)
}

/**
 * What signs the membership request: the replica secret; in a TLS cluster (no secret), the certificate and key
 * given, or else the first replica certificate of the configuration whose files can be read here (on a replica's
 * machine, its own). INVALID_CONFIG (exit 2) for a certificate given without TLS, or none to be had with it.
 */
/** What signs the membership request, and (a certificate) whose it is: its CN, said in the command's output. */
type Signer = OperatorSigner & { readonly by?: string }

async function operatorSigner(config: LoadedClusterConfig, io: Io, given: { readonly cert: string; readonly key: string } | undefined): Promise<Signer> {
  const fail = (message: string) => new LockstepError(ErrorCodes.INVALID_CONFIG, `lockstep member: ${message}`)
  if (config.security.tls === undefined) {
    if (given !== undefined) throw fail(`--cert and --key sign membership changes of a TLS cluster, and ${config.file} has no security.tls: its changes are signed with the replica secret`)
    return { secret: await readSecret(config, 'replicaSecret', io) }
  }
  const usable = async (pair: { readonly cert: string; readonly key: string }): Promise<Signer> => {
    const certificate: OperatorCertificate = { cert: await io.readFile(pair.cert), key: await io.readFile(pair.key) }
    // Checked here, so that a wrong file is named before anything is sent.
    const x509 = new X509Certificate(certificate.cert)
    createPrivateKey(certificate.key)
    return { certificate, by: subjectFields(x509).get('CN')?.[0] ?? x509.subject }
  }
  if (given !== undefined) {
    try {
      return await usable(given)
    } catch (cause) {
      throw fail(`cannot use --cert ${given.cert} --key ${given.key}: ${(cause as Error).message}`)
    }
  }
  const tried: string[] = []
  for (const replica of config.replicas) {
    if (replica.tls === undefined) continue
    const pair = { cert: configPath(config, replica.tls.cert), key: configPath(config, replica.tls.key) }
    try {
      return await usable(pair)
    } catch (cause) {
      tried.push(`${replica.id}: ${(cause as Error).message}`)
    }
  }
  throw fail(
    `${config.file} uses TLS and none of its replica certificates can be used here (${tried.join('; ')}): pass --cert and --key, an operator's certificate (OU = operator) issued by the cluster's CA and its key`,
  )
}

/** The serving replicas' reports, those of the highest view first. */
async function serving(config: LoadedClusterConfig): Promise<{ reports: ReplicaStatusReport[]; problems: string[] }> {
  const answers = await statusOfAll(config, { digest: false })
  const reports = answers.flatMap((a) => (a.ok && a.value.status === 'normal' ? [a.value] : [])).sort((a, b) => b.view.id - a.view.id)
  const problems = answers.flatMap((a) => (a.ok ? [] : [`${a.id}: ${a.error.code}: ${a.error.message}`]))
  return { reports, problems }
}

async function list(config: LoadedClusterConfig, io: Io, json: boolean): Promise<number> {
  const { reports, problems } = await serving(config)
  const top = reports[0]
  if (top === undefined) {
    io.stderr(`lockstep member: no replica of ${config.file} serves in a view now:\n${problems.map((p) => `  ${p}`).join('\n') || '  (every replica answered, none with status normal)'}`)
    return ExitCode.FAILED
  }
  const replicas = config.replicas.map(({ id }) => ({ id, member: top.view.members.includes(id), configured: top.configuration.includes(id) }))
  if (json) {
    io.stdout(JSON.stringify({ view: top.view, configuration: top.configuration, reportedBy: top.id, replicas }))
    return ExitCode.OK
  }
  io.stdout(
    [
      `view ${top.view.id}: ${top.view.members.join(', ')} (reported by ${top.id})`,
      `configuration: ${top.configuration.join(', ')}`,
      ...replicas.map((r) => `  ${r.id}  ${r.member ? (r.configured ? 'member' : 'member outside the configuration (a spare: no majority counts it until member add)') : r.configured ? 'configured, not a member (down or rejoining)' : 'removed (not in the configuration)'}`),
    ].join('\n'),
  )
  return ExitCode.OK
}

async function change(config: LoadedClusterConfig, io: Io, json: boolean, action: 'add' | 'remove', replica: string, signer: Signer, timeoutMs: number): Promise<number> {
  const fail = (code: string, message: string) => {
    io.stderr(json ? JSON.stringify({ ok: false, error: { code, message } }) : `lockstep member: ${code}: ${message}`)
    return ExitCode.FAILED
  }
  const { reports, problems } = await serving(config)
  // Ask a serving replica of the highest view, not the one being removed.
  const asked = reports.filter((r) => r.id !== replica)
  if (asked.length === 0) return fail(ErrorCodes.UNREACHABLE, `no replica of ${config.file} other than ${replica} serves in a view now${problems.length > 0 ? `:\n${problems.map((p) => `  ${p}`).join('\n')}` : ''}`)
  const body: MembershipRequestBody = { action, replica }
  let accepted: ReplicaStatusReport | undefined
  const refusals: string[] = []
  for (const report of asked) {
    const entry = config.replicas.find((r) => r.id === report.id)!
    const answer = await postSigned(config, entry, '/members', body, signer, ENDPOINT_TIMEOUT_MS)
    if (answer.ok) {
      accepted = report
      break
    }
    // A refusal of the request itself would be the same at every replica: stop at once.
    if (answer.error.code !== ErrorCodes.STOPPED && answer.error.code !== ErrorCodes.UNREACHABLE && answer.error.code !== ErrorCodes.TIMEOUT) return fail(answer.error.code, answer.error.message)
    refusals.push(`${report.id}: ${answer.error.code}: ${answer.error.message}`)
  }
  if (accepted === undefined) return fail(ErrorCodes.UNREACHABLE, `no serving replica took the request:\n${refusals.map((r) => `  ${r}`).join('\n')}`)
  if (!json) io.stderr(`lockstep member: ${replica} to be ${action === 'add' ? 'added' : 'removed'} (asked ${accepted.id} in view ${accepted.view.id}${signer.by === undefined ? '' : `, signed by ${signer.by}'s certificate`}); waiting for the view change`)
  // A removed replica leaves the configuration too (one that had failed and left the view only leaves that); an
  // admitted one enters both (a configured spare may be a member of the view already, outside the configuration).
  const done = (r: ReplicaStatusReport) => r.view.id > accepted.view.id && (action === 'add' ? r.view.members.includes(replica) && r.configuration.includes(replica) : !r.view.members.includes(replica) && !r.configuration.includes(replica))
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const now = await serving(config)
    const installed = now.reports.find(done)
    if (installed !== undefined) {
      if (json) io.stdout(JSON.stringify({ ok: true, action, replica, view: installed.view, configuration: installed.configuration }))
      else io.stdout(`${action === 'add' ? 'added' : 'removed'} ${replica}: view ${installed.view.id} is ${installed.view.members.join(', ')}`)
      return ExitCode.OK
    }
    if (Date.now() >= deadline) {
      const hint = action === 'add' ? `; is its process running? (lockstep replica --config ${config.file} --id ${replica})` : ''
      return fail(ErrorCodes.TIMEOUT, `the view change that ${action === 'add' ? 'adds' : 'removes'} ${replica} was not installed within ${timeoutMs} ms${hint}`)
    }
    await sleep(200)
  }
}
