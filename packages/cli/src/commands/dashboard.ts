import { basename } from 'node:path'
import { intFlag, parseFlags } from '../args'
import { loadClusterConfig } from '../cluster-config'
import { ClusterWatch } from '../cluster-watch'
import { startDashboardServer } from '../dashboard-server'
import { ExitCode, type Io } from '../io'

/** The port the dashboard serves on without --port. */
export const DEFAULT_DASHBOARD_PORT = 7380
/** How many samples the charts keep: 5 minutes at the default interval. */
const HISTORY_LENGTH = 600

/** Help text of `lockstep dashboard`. */
export const dashboardUsage = `lockstep dashboard --cluster <cluster.json> [--port ${DEFAULT_DASHBOARD_PORT}] [--interval-ms 500] [--timeout-ms 1000]

Serves a web page on 127.0.0.1 that shows the cluster live: every replica up
or down, its status, view, delivered position, stability lag, peers, client
connections and requests per second, charts of them over the last ${HISTORY_LENGTH}
polls, and the recent view changes, suspicions and replicas going down or
coming up. It polls every replica's operator endpoint (GET /status and
/metrics on its metricsPort, see \`lockstep status\`) and pushes each poll to
the page by server-sent events. The page loads nothing from elsewhere: it
works offline.
  --cluster      the cluster's configuration (as written by \`lockstep cluster up\`)
  --port         the port on 127.0.0.1 (default ${DEFAULT_DASHBOARD_PORT}; 0 picks a free one)
  --interval-ms  how often every replica is polled (default 500)
  --timeout-ms   how long a replica may take to answer before it shows as down (default 1000)
Prints the page's address as the first line on stdout, then runs until SIGINT
(Ctrl-C) or SIGTERM, and exits 0. Exit 2 for bad usage, an invalid
configuration, or a port it cannot listen on.`

/** `lockstep dashboard`: a live web page of a running cluster, fed by polling the replicas' operator endpoints. */
export async function dashboardCommand(args: string[], io: Io): Promise<number> {
  const { values } = parseFlags('dashboard', args, {
    cluster: { type: 'string' },
    port: { type: 'string' },
    'interval-ms': { type: 'string' },
    'timeout-ms': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  })
  if (values.help) {
    io.stdout(dashboardUsage)
    return ExitCode.OK
  }
  const file = values.cluster as string | undefined
  if (!file) {
    io.stderr(`lockstep dashboard: --cluster is required\n\n${dashboardUsage}`)
    return ExitCode.USAGE
  }
  const port = intFlag('dashboard', 'port', values.port as string | undefined, DEFAULT_DASHBOARD_PORT, 0, 65535)
  const intervalMs = intFlag('dashboard', 'interval-ms', values['interval-ms'] as string | undefined, 500, 50, 60_000)
  const timeoutMs = intFlag('dashboard', 'timeout-ms', values['timeout-ms'] as string | undefined, 1000, 50, 60_000)
  const config = await loadClusterConfig(file, io)
  const withoutEndpoint = config.replicas.filter((r) => r.metricsPort === undefined).map((r) => r.id)
  if (withoutEndpoint.length > 0) {
    io.stderr(`lockstep dashboard: ${withoutEndpoint.join(', ')} ${withoutEndpoint.length === 1 ? 'has' : 'have'} no metricsPort in ${config.file}: shown as down (INVALID_CONFIG); give every replica a metricsPort to see it`)
  }
  const watch = new ClusterWatch(config, {
    intervalMs,
    timeoutMs,
    historyLength: HISTORY_LENGTH,
    eventsKept: 100,
    onError: (error) => io.stderr(`lockstep dashboard: a poll failed: ${(error as Error)?.message ?? String(error)}`),
  })
  const server = await startDashboardServer({ host: '127.0.0.1', port }, watch, {
    cluster: { id: config.clusterId, file: config.file, order: config.order, machine: config.machine, replicas: config.replicas.map((r) => r.id) },
    intervalMs,
    historyLength: HISTORY_LENGTH,
    lockMachine: /mutex/i.test(basename(config.machine)),
  })
  // The signal handlers come before the address is printed: whoever read it may stop the dashboard at once.
  let onSignal: (signal: NodeJS.Signals) => void = () => {}
  const stopSignal = new Promise<NodeJS.Signals>((resolveSignal) => {
    onSignal = resolveSignal
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
  })
  watch.start()
  io.stdout(server.url)
  io.stderr(`lockstep dashboard: cluster ${config.clusterId} (${config.file}), ${config.replicas.length} replicas, polled every ${intervalMs} ms; open ${server.url} (Ctrl-C stops)`)
  const signal = await stopSignal
  process.off('SIGINT', onSignal)
  process.off('SIGTERM', onSignal)
  io.stderr(`lockstep dashboard: ${signal}: stopping`)
  await watch.stop()
  await server.close()
  io.stderr('lockstep dashboard: stopped')
  return ExitCode.OK
}
