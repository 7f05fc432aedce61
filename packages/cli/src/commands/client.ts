import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import { ErrorCodes, LockstepError, isLockstepError, type OutputNotice, type Reply } from '@lockstep/interface'
import { intFlag, parseFlags } from '../args'
import { clientCertificates, clusterClient } from '../cluster-client'
import { authProblems, configError, loadClusterConfig, voterNames, type LoadedClusterConfig, type VoterName } from '../cluster-config'
import { ExitCode, type Io } from '../io'
import type { LockstepClient } from '@lockstep/client'
import { stderrLogger } from '../stderr-logger'

/** Help text of `lockstep client`. */
export const clientUsage = `lockstep client --cluster <cluster.json> [options] <command> [json-args | @file | -]

Submits one command, { "name": <command>, "args": <json-args> }, to the
cluster and prints the client-visible result as one JSON line (the arguments
may come from a file, @path, or from standard input, -, for values too large
for a command line):
  {"ok":true,"outputs":[...],"position":N,"client":"...","seq":1}
outputs are the values the command addressed to this client; position is
where it sits in the total order. \`acquire\` waits until the lock is granted
(at once, or when the holder releases) and then prints
  {"ok":true,"outputs":["OK"],...,"granted":{"position":N,"by":{"client":...,"seq":...}}}
  --cluster     the cluster's configuration (as written by \`lockstep cluster up\`)
  --id          client id (default: generated, unique per invocation). Reusing an id
                in a later invocation is safe: every invocation is a new incarnation
                of the client, and never takes an earlier one's replies
  --replica     replica to try first (default: the first listed)
  --timeout-ms  give up after this long without a reply (default: timeouts.clientTimeoutMs, 10000)
  --no-wait     acquire: print the reply at once even when queued
  --voter       first|majority|byzantine: how to decide the result from the replicas' answers
                (default: the configuration's voter, first); with byzantine, t+1 identical answers
                out of 2t+1 replicas decide, so t replicas computing wrong outputs cannot fool it,
                and replicas whose answers differ are named on stderr (docs/voting.md)
  --verify      after the reply, ask ONE replica (--verify-at, default the first) for its
                evidence: the reply with the signed digests of t+1 replicas (t = F =
                floor((n-1)/2)); verify it with the public keys of cluster.json and print the
                verified reply with "verified":true, "signers":[...], "servedBy"; exit 1
                when it does not verify (EVIDENCE_INVALID) or the replica has none
  --verify-at   the replica --verify asks (default: the first listed)
  --cert/--key  this client's certificate and key (PEM) when the cluster uses TLS;
                the id defaults to the certificate's CN (so, one certificate per invocation)
  --verbose     log connection events to stderr
Exit 0 on success; 1 for an error reply (its JSON on stderr), a --verify that failed, when no
replica answered in time (TIMEOUT), or at once, with every replica's reason on
stderr, when every replica refused the client: AUTH_FAILED (a wrong client
secret or certificate), CLUSTER_MISMATCH (a wrong cluster id) or UNREACHABLE
(connection refused: the cluster is not running there); 2 for bad usage or an
invalid configuration.

Examples:
  lockstep client --cluster .lockstep/cluster/cluster.json put '{"key":"a","value":"1"}'
  lockstep client --cluster .lockstep/cluster/cluster.json get '{"key":"a"}'
  lockstep client --cluster .lockstep/cluster/cluster.json acquire`

/** `lockstep client`: submits one command and prints its result as JSON. */
export async function clientCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseFlags('client', args, {
    cluster: { type: 'string' },
    id: { type: 'string' },
    replica: { type: 'string' },
    'timeout-ms': { type: 'string' },
    'no-wait': { type: 'boolean' },
    voter: { type: 'string' },
    verify: { type: 'boolean' },
    'verify-at': { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
    verbose: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  })
  if (values.help) {
    io.stdout(clientUsage)
    return ExitCode.OK
  }
  const file = values.cluster as string | undefined
  const [name, argsText, ...rest] = positionals
  const usageError = (problem: string) => {
    io.stderr(`lockstep client: ${problem}\nUsage: ${clientUsage.split('\n')[0]}   (lockstep client --help for the options)`)
    return ExitCode.USAGE
  }
  if (!file) return usageError('--cluster is required')
  if (!name) return usageError('the command name is required (for example: get, put, acquire)')
  if (rest.length > 0) return usageError(`unexpected arguments after the JSON arguments: ${rest.join(' ')} (quote the JSON as one argument)`)
  let commandArgs: unknown
  if (argsText !== undefined) {
    let text = argsText
    const source = argsText === '-' ? 'standard input' : argsText.startsWith('@') ? argsText.slice(1) : undefined
    try {
      if (argsText === '-') text = await io.readStdin()
      else if (source !== undefined) text = await io.readFile(source)
    } catch (error) {
      return usageError(`cannot read the JSON arguments from ${source}: ${(error as Error).message}`)
    }
    try {
      commandArgs = JSON.parse(text)
    } catch (error) {
      const shown = text.length > 200 ? `${text.slice(0, 200)}… (${text.length} characters)` : text
      return usageError(`json-args${source === undefined ? '' : ` from ${source}`} is not valid JSON (${(error as Error).message}): ${shown}`)
    }
  }
  if ((values.cert === undefined) !== (values.key === undefined)) return usageError('--cert and --key go together')
  const voter = values.voter as string | undefined
  if (voter !== undefined && !(voterNames as readonly string[]).includes(voter)) return usageError(`--voter '${voter}' is not a voter; choose from ${voterNames.join(', ')}`)

  const config = await loadClusterConfig(file, io)
  const problems = authProblems(config, 'client')
  if (problems.length > 0) throw configError(config.file, problems)
  const timeoutMs = intFlag('client', 'timeout-ms', values['timeout-ms'] as string | undefined, config.timeouts.clientTimeoutMs, 1, 2_147_483_647)
  // --cert and --key come together (checked above).
  const cert = values.cert as string | undefined
  const [tls] = await clientCertificates('client', config, io, cert === undefined ? [] : [{ cert, key: values.key as string }])
  const id = (values.id as string | undefined) ?? tls?.commonName ?? `cli-${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`
  if (config.replicas.some((r) => r.id === id)) return usageError(`--id ${id} is a replica's id; a client needs its own`)
  const preferred = values.replica as string | undefined
  if (preferred !== undefined && !config.replicas.some((r) => r.id === preferred)) {
    return usageError(`--replica ${preferred} is not a replica of ${config.file} (${config.replicas.map((r) => r.id).join(', ')})`)
  }
  const verifyAt = values['verify-at'] as string | undefined
  if (verifyAt !== undefined && !values.verify) return usageError('--verify-at goes with --verify')
  if (verifyAt !== undefined && !config.replicas.some((r) => r.id === verifyAt)) {
    return usageError(`--verify-at ${verifyAt} is not a replica of ${config.file} (${config.replicas.map((r) => r.id).join(', ')})`)
  }
  const publicKeys = values.verify ? verificationKeys(config) : undefined
  const client = await clusterClient(config, {
    id,
    preferred,
    tls: tls?.credentials,
    logger: values.verbose ? stderrLogger(id, (line) => io.stderr(line), 'info') : undefined,
    io,
    ...(voter === undefined ? {} : { voter: voter as VoterName }),
  })
  client.onDissent((event) => {
    const what = event.kind === 'reply' ? `the reply to request #${String(event.seq)}` : `output #${String(event.outputSeq)}`
    io.stderr(`lockstep client: ${event.dissenting.join(', ')} answered ${what} differently from ${event.agreeing.join(', ')} (voter ${event.rule}): outvoted`)
  })
  const command = commandArgs === undefined ? { name } : { name, args: commandArgs }
  await client.start()
  try {
    let reply: Reply
    try {
      reply = await client.submit(command, { timeoutMs })
    } catch (error) {
      if (!isLockstepError(error)) throw error
      if (error.code === ErrorCodes.TIMEOUT) throw timeoutError(config, timeoutMs)
      if (refusals.has(error.code)) {
        // Every replica refused this client: say why at once, not after the timeout.
        io.stderr(`lockstep client: ${error.code}: ${error.message} (cluster ${config.file})`)
        return ExitCode.FAILED
      }
      // A request the client could not send at all (FRAME_TOO_LARGE, …): reported like an error reply.
      io.stderr(JSON.stringify({ ok: false, error: error.toInfo(), client: id }))
      return ExitCode.FAILED
    }
    if (!reply.ok) {
      io.stderr(JSON.stringify({ ok: false, error: reply.error, client: id, seq: reply.seq, ...(reply.position === undefined ? {} : { position: reply.position }) }))
      return ExitCode.FAILED
    }
    const result: Record<string, unknown> = { ok: true, outputs: reply.outputs.map((o) => o.value), position: reply.position, client: id, seq: reply.seq, ...(client.voting === 'first' ? {} : { voter: client.voting, dissent: client.dissent.byReplica }) }
    if (publicKeys) {
      const verified = await verifiedResult(client, reply, config, publicKeys, verifyAt ?? config.replicas[0]!.id, timeoutMs, io)
      if (verified === undefined) return ExitCode.FAILED
      Object.assign(result, verified)
    }
    if (name === 'acquire' && reply.outputs.length === 0 && !values['no-wait']) {
      io.stderr(`lockstep client: ${id} is queued for the lock; waiting for the grant (Ctrl-C gives up; the grant then goes to a client that no longer listens)`)
      const notice = await client.nextNotice()
      Object.assign(result, grantOf(notice))
    }
    io.stdout(JSON.stringify(result))
    return ExitCode.OK
  } finally {
    await client.stop()
  }
}

/** Every replica's public key from the configuration (`--verify`); INVALID_CONFIG naming the first one missing. */
function verificationKeys(config: LoadedClusterConfig): Record<string, string> {
  const missing = config.replicas.findIndex((r) => r.publicKey === undefined)
  if (missing >= 0) {
    throw configError(config.file, [{ path: `/replicas/${missing}/publicKey`, message: 'is required for --verify: the reader checks every replica\'s signature with its public key (`lockstep cluster up` writes them)' }])
  }
  return Object.fromEntries(config.replicas.map((r) => [r.id, r.publicKey!]))
}

/**
 * `--verify`: asks one replica for the evidence of `reply` and verifies it (t = F = ⌊(n-1)/2⌋). The verified reply's
 * fields for the printed result, or undefined after saying on stderr why it did not verify.
 */
async function verifiedResult(
  client: LockstepClient,
  reply: Reply,
  config: LoadedClusterConfig,
  publicKeys: Record<string, string>,
  replica: string,
  timeoutMs: number,
  io: Io,
): Promise<Record<string, unknown> | undefined> {
  const t = Math.floor((config.replicas.length - 1) / 2)
  try {
    const verified = await client.verifiedReply(reply, { replica, publicKeys, clusterId: config.clusterId, t, timeoutMs })
    const checked = verified.reply
    if (!checked.ok) throw new LockstepError(ErrorCodes.EVIDENCE_INVALID, `the verified reply of ${replica} is an error (${checked.error.code}), not the success this client was given`)
    return { outputs: checked.outputs.map((o) => o.value), position: checked.position, verified: true, signers: verified.signers, servedBy: replica, t }
  } catch (error) {
    if (!isLockstepError(error)) throw error
    const what = error.code === ErrorCodes.TIMEOUT ? `replica ${replica} served no evidence within ${timeoutMs} ms` : error.message
    io.stderr(`lockstep client: ${error.code}: the reply to ${reply.client}#${reply.seq} could not be verified: ${what}`)
    return undefined
  }
}

function grantOf(notice: OutputNotice): Record<string, unknown> {
  return { outputs: [notice.value], granted: { position: notice.position, by: notice.cause } }
}

function timeoutError(config: LoadedClusterConfig, timeoutMs: number): LockstepError {
  const where = config.replicas.map((r) => `${r.id} at ${r.host}:${r.port}`).join(', ')
  return new LockstepError(
    ErrorCodes.TIMEOUT,
    `lockstep client: TIMEOUT: no replica of ${config.file} answered within ${timeoutMs} ms (${where}); check that the cluster is running (\`lockstep cluster up\`), that its addresses are reachable and that the client secret matches`,
  )
}

/** The errors of a client every replica refused (see LockstepClient.submit). */
const refusals: ReadonlySet<string> = new Set([ErrorCodes.AUTH_FAILED, ErrorCodes.CLUSTER_MISMATCH, ErrorCodes.UNREACHABLE])
