import { intFlag, parseFlags } from '../args'
import { loadClusterConfig } from '../cluster-config'
import { ExitCode, type Io } from '../io'
import { ENDPOINT_TIMEOUT_MS, statusOfAll } from '../replica-endpoints'
import type { ReplicaStatusReport } from '../replica-metrics'

/** Help text of `lockstep status`. */
export const statusUsage = `lockstep status --cluster <cluster.json> [--json] [--no-digest] [--timeout-ms 5000]

Asks every replica of the cluster, on its operator endpoint (metricsPort in
cluster.json; \`cluster up\` assigns them), where it stands, and prints one line
per replica: up or down, its status (normal = serving in a view), view id and
members, delivered position, stability lag (requests held and not delivered,
and the age of the oldest one it received), peers connected, client requests
per second (last 10 s), the state digest (equal digests at equal positions:
the replicas agree) and, with real-time ordering, the largest estimated clock
offset to a peer. When the state machine has a summary of its state (the
mutex: the holder and the queue; off with "statusSummary": false in
cluster.json), one more line shows it: one for the cluster when every replica
that answered shows the same, otherwise one per replica.
  --cluster     the cluster's configuration (as written by \`lockstep cluster up\`)
  --json        print {"cluster", "config", "replicas": [...]} instead, each replica
                {"id", "up": true, ...its /status} or {"id", "up": false, "error": {code, message}}
  --no-digest   skip the state digests (each reads the whole state)
  --timeout-ms  how long each replica may take to answer (default 5000)
Exit 0 when every replica answered; 1 when one or more did not (down,
unreachable, or without a metricsPort); 2 for bad usage or an invalid
configuration.`

/** `lockstep status`: every replica's view, position, lag, peers and digest. */
export async function statusCommand(args: string[], io: Io): Promise<number> {
  const { values } = parseFlags('status', args, {
    cluster: { type: 'string' },
    json: { type: 'boolean' },
    'no-digest': { type: 'boolean' },
    'timeout-ms': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  })
  if (values.help) {
    io.stdout(statusUsage)
    return ExitCode.OK
  }
  const file = values.cluster as string | undefined
  if (!file) {
    io.stderr(`lockstep status: --cluster is required\n\n${statusUsage}`)
    return ExitCode.USAGE
  }
  const timeoutMs = intFlag('status', 'timeout-ms', values['timeout-ms'] as string | undefined, ENDPOINT_TIMEOUT_MS, 1, 600_000)
  const config = await loadClusterConfig(file, io)
  const answers = await statusOfAll(config, { digest: values['no-digest'] !== true, timeoutMs })
  const allUp = answers.every((answer) => answer.ok)
  if (values.json) {
    io.stdout(
      JSON.stringify({
        cluster: config.clusterId,
        config: config.file,
        replicas: answers.map((answer) => (answer.ok ? { up: true, ...answer.value } : { id: answer.id, up: false, error: answer.error })),
      }),
    )
    return allUp ? ExitCode.OK : ExitCode.FAILED
  }
  const header = ['replica', 'up', 'status', 'view', 'members', 'position', 'lag', 'peers', 'req/s', 'digest', 'clock offset']
  const rows = answers.map((answer) => (answer.ok ? row(answer.value) : [answer.id, 'down', '', '', '', '', '', '', '', '', '']))
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((r) => r[i]!.length)))
  const format = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()
  const lines = [`cluster ${config.clusterId} (${config.file}), ${config.replicas.length} replicas, ${config.order} ordering`, format(header), ...rows.map(format)]
  for (const answer of answers) if (!answer.ok) lines.push(`${answer.id}: ${answer.error.code}: ${answer.error.message}`)
  lines.push(...summaryLines(answers.flatMap((answer) => (answer.ok ? [answer.value] : []))))
  io.stdout(lines.join('\n'))
  return allUp ? ExitCode.OK : ExitCode.FAILED
}

/**
 * The machine's summary of its state: one line for the cluster when every replica that answered shows the
 * same one (`summary: {...}`), otherwise one per replica (`r1 summary at position 12: {...}`); none when no
 * replica reports one.
 */
export function summaryLines(reports: readonly ReplicaStatusReport[]): string[] {
  const shown = reports.map((report) => ({
    report,
    text: report.summary !== undefined ? JSON.stringify(report.summary) : report.summaryError !== undefined ? `unavailable: ${report.summaryError}` : undefined,
  }))
  if (shown.every((s) => s.text === undefined)) return []
  const first = shown[0]!.text
  if (shown.every((s) => s.text === first)) return [`summary: ${first}`]
  return shown.map(({ report, text }) => `${report.id} summary at position ${report.position}: ${text ?? 'none'}`)
}

function row(status: ReplicaStatusReport): string[] {
  const { pendingRequests, oldestPendingMs } = status.stabilityLag
  const offsets = status.clockOffsets === null ? [] : Object.values(status.clockOffsets).map((o) => o.offsetMs)
  const largest = offsets.reduce((max, offset) => (Math.abs(offset) > Math.abs(max) ? offset : max), 0)
  return [
    status.id,
    'up',
    status.status,
    String(status.view.id),
    status.view.members.join(','),
    String(status.position),
    `${pendingRequests}${oldestPendingMs === null ? '' : ` (${Math.round(oldestPendingMs)} ms)`}`,
    status.peersConnected.join(',') || '-',
    String(status.requestsPerSecond),
    status.digest === null ? '-' : `${status.digest.digest.slice(0, 12)}@${status.digest.position}`,
    status.clockOffsets === null ? '-' : offsets.length === 0 ? 'no estimate yet' : `${largest >= 0 ? '+' : ''}${largest.toFixed(3)} ms`,
  ]
}
