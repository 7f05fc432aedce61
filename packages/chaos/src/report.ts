import { parseArgs } from 'node:util'
import { MAX_IN_FLIGHT, NEMESES, ORDERS, UNAVAILABLE_NEMESES, WORKLOADS, type ChaosOptions, type ChaosResult, type Nemesis, type Order, type Workload } from './run'

/** What `npm run chaos -- --help` prints, and bad usage after its error. */
export const CHAOS_USAGE = `usage: npm run chaos -- [--duration S] [--replicas N] [--in-flight K] [--order lamport|realtime] [--shared-connections] [--tls] [--nemesis LIST] [--workload LIST] [--seed N] [--dir DIR]

  --duration S    seconds of faults and traffic, split evenly over the workloads (default 60)
  --replicas N    replicas per cluster, odd, at least 3 (default 3); (N - 1) / 2 faults at once
  --in-flight K   operations each kv and register client keeps in flight, 1 to ${MAX_IN_FLIGHT} (default 1): K loops
                  share the client and pipeline their requests, each a sequential process of the checked
                  history; an operation unanswered in 4 s replaces the client for all K loops, and each of
                  their operations then in flight counts as unknown. Does not apply to lock: a lock client
                  has one acquire or release at a time (its clients keep 1 in flight whatever K is)
  --order O       the replicas' ordering strategy: lamport (logical clocks, the default) or realtime
                  (synchronized clocks; the replicas share this machine's clock)
  --shared-connections
                  the clients share one connection to each replica (shareConnections), so a fault
                  on it hits them all at once (default: a connection each)
  --tls           mutual TLS between every node (default: the cluster's secrets): a CA of the run,
                  a certificate per replica and per client, made with openssl (it must be on the
                  PATH); not with --shared-connections (each client proves its id over its own connection)
  --nemesis LIST  comma-separated, from ${NEMESES.join(', ')} (default: every one available)
  --workload LIST comma-separated, from ${WORKLOADS.join(', ')} (default: all)
  --seed N        the fault schedule and the workloads' choices (default: random; printed)
  --dir DIR       keep the clusters' files, logs and result.json there (default: a temporary directory,
                  removed after a run without violations)

Exit 0 without violations, 1 with any (the replay command is printed), 2 for bad usage.`

/** The command line of `npm run chaos`, as options; throws an Error with a usage message on bad input. */
export function parseChaosArgs(args: readonly string[]): ChaosOptions {
  const { values } = parseArgs({
    args: [...args],
    options: {
      duration: { type: 'string', default: '60' },
      nemesis: { type: 'string' },
      seed: { type: 'string' },
      workload: { type: 'string', default: WORKLOADS.join(',') },
      replicas: { type: 'string', default: '3' },
      'in-flight': { type: 'string', default: '1' },
      order: { type: 'string', default: 'lamport' },
      'shared-connections': { type: 'boolean', default: false },
      tls: { type: 'boolean', default: false },
      dir: { type: 'string' },
    },
    strict: true,
  })
  const durationS = Number(values.duration)
  if (!Number.isFinite(durationS) || durationS <= 0) throw new Error(`--duration must be a positive number of seconds, not '${values.duration}'`)
  const available = NEMESES.filter((n) => UNAVAILABLE_NEMESES[n] === undefined)
  const nemeses = (values.nemesis ?? available.join(',')).split(',').filter((n) => n !== '')
  for (const n of nemeses) {
    if (!(NEMESES as readonly string[]).includes(n)) throw new Error(`--nemesis: unknown nemesis '${n}'; choose from ${NEMESES.join(', ')}`)
    const why = UNAVAILABLE_NEMESES[n as Nemesis]
    if (why) throw new Error(`--nemesis: '${n}' is not available: ${why}`)
  }
  const workloads = (values.workload ?? '').split(',').filter((w) => w !== '')
  for (const w of workloads) if (!(WORKLOADS as readonly string[]).includes(w)) throw new Error(`--workload: unknown workload '${w}'; choose from ${WORKLOADS.join(', ')}`)
  if (workloads.length === 0) throw new Error('--workload: name at least one workload')
  const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed)
  if (!Number.isSafeInteger(seed)) throw new Error(`--seed must be an integer, not '${values.seed}'`)
  const replicas = Number(values.replicas)
  if (!Number.isSafeInteger(replicas) || replicas < 3 || replicas % 2 === 0) throw new Error(`--replicas must be an odd number of at least 3, not '${values.replicas}'`)
  const inFlightText = values['in-flight']
  const inFlight = Number(inFlightText)
  if (!/^\d+$/.test(inFlightText) || !Number.isSafeInteger(inFlight) || inFlight < 1 || inFlight > MAX_IN_FLIGHT) {
    throw new Error(`--in-flight must be an integer from 1 to ${MAX_IN_FLIGHT} (operations each kv and register client keeps in flight), not '${inFlightText}'`)
  }
  if (!(ORDERS as readonly string[]).includes(values.order)) throw new Error(`--order must be one of ${ORDERS.join(', ')}, not '${values.order}'`)
  if (values.tls === true && values['shared-connections'] === true) throw new Error('--tls and --shared-connections do not go together: with TLS each client proves its id by its own certificate, over its own connection')
  return { durationS, nemeses: nemeses as Nemesis[], seed, workloads: workloads as Workload[], replicas, inFlight, order: values.order as Order, sharedConnections: values['shared-connections'] === true, tls: values.tls === true, ...(values.dir ? { dir: values.dir } : {}) }
}

/** The run as a table, then the command that replays its fault schedule. */
export function formatResult(result: ChaosResult): string {
  const rows: [string, string][] = [
    ['seed', String(result.seed)],
    ['duration', durationRow(result)],
    ['replicas', `${result.replicas} (up to ${Math.floor((result.replicas - 1) / 2)} faulty at once)`],
    ['in flight per client', inFlightRow(result)],
    ['ordering', result.order],
    ['client connections', result.sharedConnections ? 'shared: one per replica for all clients' : 'one per client'],
    ['authentication', result.tls ? 'mutual TLS (a certificate per replica and per client)' : "the cluster's secrets"],
    ['workloads', result.workloads.map((w) => w.workload).join(', ')],
    ['operations ok / failed / unknown', `${result.operations.ok} / ${result.operations.failed} / ${result.operations.unknown}`],
    ...result.workloads.map((w): [string, string] => [`  ${w.workload}`, `${w.operations.ok} / ${w.operations.failed} / ${w.operations.unknown}`]),
    ['faults injected', Object.entries(result.faults).map(([k, n]) => `${k} ${n}`).join(', ') || 'none'],
    ['violations', String(result.violations.length)],
    ['lost acknowledged writes', String(result.lostWrites)],
    ['longest unavailability', `${(result.longestUnavailableMs / 1000).toFixed(2)} s`],
    ...Object.entries(result.longestUnavailableByNemesis).map(([k, ms]): [string, string] => [`  during ${k}`, `${(ms / 1000).toFixed(2)} s`]),
  ]
  const width = Math.max(...rows.map(([k]) => k.length))
  const lines = rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`)
  for (const v of result.violations) lines.push(`VIOLATION: ${v}`)
  if (result.violations.length > 0) {
    lines.push(`logs and result.json: ${result.dir}`)
    lines.push(`replay: npm run chaos -- --duration ${result.durationS} --replicas ${result.replicas} --in-flight ${result.inFlight} --order ${result.order}${result.sharedConnections ? ' --shared-connections' : ''}${result.tls ? ' --tls' : ''} --nemesis ${result.nemeses.join(',')} --workload ${result.workloads.map((w) => w.workload).join(',')} --seed ${result.seed}`)
  }
  return lines.join('\n')
}

/** The duration asked for, and how long the phases ran when that differs, saying why. */
function durationRow(result: ChaosResult): string {
  if (result.extended) return `${result.durationS} s, ran ${result.ranS} s (a phase went on until it had done its share of the work asked for)`
  if (result.ranS > result.durationS + 1) return `${result.durationS} s, ran ${result.ranS} s (faults under way at a phase's end healed after it)`
  return `${result.durationS} s`
}

/** `4 (kv, register; lock 1: a lock client has one acquire or release at a time)`, as far as the run's workloads go. */
function inFlightRow(result: ChaosResult): string {
  const pipelined = result.workloads.filter((w) => w.workload !== 'lock').map((w) => w.workload)
  const lock = result.workloads.some((w) => w.workload === 'lock') ? `${pipelined.length > 0 ? '; ' : ''}lock 1: a lock client has one acquire or release at a time` : ''
  return `${pipelined.length > 0 ? `${result.inFlight} (${pipelined.join(', ')})` : ''}${lock}`
}
