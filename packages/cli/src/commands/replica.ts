import type { FailureCause, ReplicaHost } from '@lockstep/core'
import { isLockstepError } from '@lockstep/interface'
import { intFlag, parseFlags } from '../args'
import { loadClusterConfig } from '../cluster-config'
import { ExitCode, type Io } from '../io'
import { startOperatorEndpoint } from '../operator-endpoint'
import type { ReplicaProcessEvent, ReplicaProcessRequest } from '../replica-ipc'
import { replicaLogger } from '../replica-log'
import { ReplicaMetrics } from '../replica-metrics'
import { startReplica } from '../replica-runner'
import { watchRevocationLists } from '../revocation-watch'
import { certificatesOf, type RevocationList } from '@lockstep/transport-tcp'
import { parseLogLevel } from '../stderr-logger'
import { TEST_CLOCK_VARIABLE, testClockSkewable } from '../test-clock'

/** Help text of `lockstep replica`. */
export const replicaUsage = `lockstep replica --config <cluster.json> --id <replica id> [--join] [--log-level debug|info|warn|error] [--metrics-port N]

Runs one replica of the cluster described by the configuration file: listens
on its configured address, connects to its peers over TCP (or TLS), orders
client requests with the configured strategy and executes them on the
configured state machine.

Logs go to stderr as JSON lines (pino): time, level, replica, view, position,
pid, msg and the entry's fields; readable lines instead when stderr is a
terminal. --log-level sets the level (default info).

--metrics-port N serves the replica's HTTP endpoint for operators on its host
(default: the configuration's metricsPort of this replica, or none; 0 picks a
free port): GET /metrics (Prometheus), /health (200 while it serves in a view,
503 otherwise), /status (JSON) and POST /members (membership changes signed
with the replica secret, or in a TLS cluster with an operator's or a replica's
certificate). See docs/operations.md.

Replicas watch each other: one that stays silent is removed by a view change
once a majority suspects it, and the others go on. A replica that was stopped
or crashed comes back with the same command: with file storage it restarts
from its disk; with memory storage (or a lost disk) it starts empty and the
running replicas add it back, sending it their state. --join is accepted and
no longer needed.

SIGINT or SIGTERM stops it cleanly: the engine stops, every socket closes, and
it exits 0; a second signal exits at once. SIGHUP reads the certificate
revocation lists (security.tls.crl) again; other settings need a restart.
Exit 0 after a clean stop; 2 for bad usage or an invalid configuration (each
problem with its JSON path); 1 if the replica fails to run, or stops by itself
because its storage failed (a full disk, an I/O error: said at error level;
restarted once the cause is fixed, it recovers what its disk holds).`

/** `lockstep replica`: runs one replica process until SIGINT or SIGTERM. */
export async function replicaCommand(args: string[], io: Io): Promise<number> {
  const { values } = parseFlags('replica', args, {
    config: { type: 'string' },
    id: { type: 'string' },
    join: { type: 'boolean' },
    'log-level': { type: 'string' },
    'metrics-port': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  })
  if (values.help) {
    io.stdout(replicaUsage)
    return ExitCode.OK
  }
  const file = values.config as string | undefined
  const id = values.id as string | undefined
  if (!file || !id) {
    io.stderr(`lockstep replica: ${!file ? '--config' : '--id'} is required\n\n${replicaUsage}`)
    return ExitCode.USAGE
  }
  const level = parseLogLevel('replica', values['log-level'] as string | undefined, 'info')
  const metricsFlag = values['metrics-port'] as string | undefined
  const metricsPortFlag = metricsFlag === undefined ? undefined : intFlag('replica', 'metrics-port', metricsFlag, 0, 0, 65535)
  const config = await loadClusterConfig(file, io)
  let running: ReplicaHost | undefined
  const log = replicaLogger({
    id,
    level,
    pretty: process.stderr.isTTY === true,
    where: () => (running === undefined ? { view: null, position: null } : { view: running.engine.view.id, position: running.engine.position }),
  })
  const join = values.join === true
  const metrics = new ReplicaMetrics(id, undefined, { statusSummary: config.statusSummary })
  // A replica that stopped by itself (its storage failed, or an error escaped its engine) ends the process with exit 1,
  // once the signal handlers below are in place; before that, the failure waits for them.
  let failure: { error: Error; cause: FailureCause } | undefined
  let onFailure: ((error: Error, cause: FailureCause) => void) | undefined
  const onFailed = (error: Error, cause: FailureCause) => {
    failure = { error, cause }
    onFailure?.(error, cause)
  }
  const replica = await startReplica(config, id, io, log, { join, metrics, onHostCreated: (created) => (running = created), skewableClock: testClockSkewable(), onFailed })
  metrics.attach(replica.host, () => replica.transportStats())
  let stopRevocationWatch = () => {}
  /** Says which revocation lists are in use, shows their next updates on /metrics and watches them. */
  const useRevocationLists = (lists: readonly RevocationList[], how: string) => {
    log.info(`revocation lists (security.tls.crl) ${how}: ${lists.map((list) => `${list.issuer}, ${list.revoked.size} revoked, next update ${list.nextUpdate?.toISOString() ?? 'none'}`).join('; ')}`)
    metrics.revocationLists(lists)
    stopRevocationWatch()
    stopRevocationWatch = watchRevocationLists(lists, { nowMs: () => Date.now(), setTimer: (ms, run) => setTimeout(run, ms).unref(), clearTimer: (timer) => clearTimeout(timer as NodeJS.Timeout) }, log)
  }
  if (replica.tlsRevocationLists !== undefined) useRevocationLists(replica.tlsRevocationLists, 'in use')
  const { host, port } = replica.address
  // The revocation lists can change while the replica runs (SIGHUP): the endpoint reads them at each request.
  const knownReplicas = config.replicas.map((r) => r.id)
  const operatorTrust = replica.tlsCa === undefined ? undefined : { cas: certificatesOf(replica.tlsCa), replicas: knownReplicas, revocationLists: replica.tlsRevocationLists ?? [] }
  const metricsPort = metricsPortFlag ?? config.replicas.find((r) => r.id === id)?.metricsPort
  let endpoint: Awaited<ReturnType<typeof startOperatorEndpoint>> | undefined
  if (metricsPort !== undefined) {
    try {
      endpoint = await startOperatorEndpoint(
        { host, port: metricsPort },
        {
          id,
          clusterId: config.clusterId,
          host: replica.host,
          metrics,
          knownReplicas,
          replicaSecret: replica.replicaSecret,
          ...(operatorTrust === undefined ? {} : { operatorTrust }),
          log,
        },
      )
    } catch (error) {
      metrics.stop()
      await replica.stop()
      throw error
    }
  }
  log.info(
    `replica ${id} listening on ${host}:${port}${join ? ', asking to join' : ''}: cluster ${config.clusterId} (${config.replicas.map((r) => r.id).join(', ')}), machine ${replica.machineName}, ${config.order} ordering, pid ${process.pid}` +
      (endpoint === undefined ? '' : `; metrics, health and status on http://${host}:${endpoint.port}`),
  )
  const onRequest = (request: ReplicaProcessRequest) => {
    if (request?.lockstep === 'skew') {
      const applied = replica.clock !== undefined && Number.isFinite(request.offsetMs)
      if (applied) {
        replica.clock.setOffset(request.offsetMs)
        log.warn(`clock set ${request.offsetMs} ms off the machine's by the parent process (chaos test of clock skew)`)
      } else log.error(`the parent asked to set the clock ${String(request.offsetMs)} ms off, which this replica does not allow (started without ${TEST_CLOCK_VARIABLE}=skewable, or not a number)`)
      notifyParent({ lockstep: 'replica', event: 'skewed', requestId: request.requestId, id, offsetMs: request.offsetMs, applied })
      return
    }
    if (request?.lockstep === 'member') {
      try {
        if (request.action === 'remove') replica.host.removeReplica(request.replica)
        else replica.host.admitReplica(request.replica)
        log.warn(`operator: ${request.action} replica '${request.replica}' requested by the parent process`)
        notifyParent({ lockstep: 'replica', event: 'member', requestId: request.requestId, id, ok: true })
      } catch (error) {
        const { code = 'INTERNAL', message = String(error) } = error as { code?: string; message?: string }
        notifyParent({ lockstep: 'replica', event: 'member', requestId: request.requestId, id, ok: false, error: { code, message } })
      }
      return
    }
    if (request?.lockstep !== 'status') return
    const { engine } = replica.host
    const answer = (position: number, digest: string) => {
      const configured = engine.viewConfiguration
      notifyParent({ lockstep: 'replica', event: 'status', requestId: request.requestId, id, position, digest, view: engine.view.members, viewId: engine.view.id, configuration: configured.replicas, configurationViewId: configured.view, state: engine.status, sessions: engine.sessionCount })
    }
    if (request.digest === false) {
      answer(engine.position, '')
      return
    }
    // The digest of the state at one position, hashed a megabyte per turn: a large state must not stop the
    // replica (its peers would suspect it), so the position is the one hashed, not the one at the answer.
    engine.stateDigestInTurns(() => new Promise<void>((resolve) => setImmediate(resolve))).then(
      ({ position, digest }) => answer(position, digest),
      (error: unknown) => log.error(`status: the state digest could not be computed: ${(error as Error)?.message ?? String(error)}`),
    )
  }
  if (process.send) process.on('message', onRequest)

  return new Promise<number>((resolveExit) => {
    let stopping = false
    const shutDown = (reason: string, code: number = ExitCode.OK) => {
      if (stopping) {
        if (code !== ExitCode.OK) return
        log.warn(`${reason} while stopping: exiting at once`)
        process.exit(130)
      }
      stopping = true
      if (code === ExitCode.OK) log.info(`stopping (${reason}) at position ${replica.host.engine.position}`)
      else log.error(`exiting with code ${code} at position ${replica.host.engine.position}: ${reason}`)
      notifyParent({ lockstep: 'replica', event: 'stopping', id, reason })
      stopRevocationWatch()
      metrics.stop()
      Promise.all([replica.stop(), endpoint?.close()]).then(
        () => {
          log.info('stopped: engine halted, sockets closed')
          finish(code)
        },
        (error: Error) => {
          log.error(`failed to stop cleanly: ${error.message}`)
          finish(ExitCode.FAILED)
        },
      )
    }
    const onSigint = () => shutDown('SIGINT')
    const onSigterm = () => shutDown('SIGTERM')
    const onDisconnect = () => shutDown('the parent process went away')
    const finish = (code: number) => {
      process.off('message', onRequest)
      process.off('SIGTERM', onSigterm)
      process.off('SIGHUP', onSighup)
      process.off('disconnect', onDisconnect)
      if (process.connected) process.disconnect()
      // A second SIGINT stays caught (it would exit at once) until the process ends by itself.
      resolveExit(code)
    }
    // SIGHUP: the revocation lists are read again from their files (security.tls.crl); the other settings need a restart.
    const onSighup = () => {
      replica.reloadRevocationLists().then(
        (reloaded) => {
          if (reloaded === undefined) {
            log.warn('SIGHUP: no revocation lists to read again (security.tls.crl is not set); other changes of the configuration need a restart')
            return
          }
          if (operatorTrust !== undefined) operatorTrust.revocationLists = reloaded.lists
          useRevocationLists(reloaded.lists, `read again (SIGHUP), ${reloaded.closed} connection(s) of revoked certificates closed`)
        },
        (error: Error) => log.error(`SIGHUP: the revocation lists were not read again, the ones in use stay: ${error.message}`, { code: isLockstepError(error) ? error.code : undefined }),
      )
    }
    process.on('SIGINT', onSigint)
    process.on('SIGTERM', onSigterm)
    process.on('SIGHUP', onSighup)
    onFailure = (error, cause) => {
      const said = error.message.replace(/\.$/, '')
      const [reason, why] =
        cause === 'storage'
          ? [`its storage failed: ${said}`, `its storage failed (${isLockstepError(error) ? error.code : 'error'}, said above); restart it once the cause is fixed: it recovers every complete record its disk holds`]
          : [`it stopped on an unexpected error: ${said}`, `it stopped on an unexpected error (said above, with its stack); restart it once the cause is fixed (a state machine's method that throws?): it recovers like a crashed replica`]
      notifyParent({ lockstep: 'replica', event: 'failed', id, cause, reason })
      shutDown(why, ExitCode.FAILED)
    }
    if (failure !== undefined) onFailure(failure.error, failure.cause)
    // Only now, with the signals handled: a parent that stops the cluster as soon as every replica listens sends
    // SIGTERM at once, and a replica that had not yet installed its handler died of it instead of stopping.
    // (Found under load: cli/test/unclean-stop.test.ts saw a replica end by SIGTERM, exit code none.)
    notifyParent({ lockstep: 'replica', event: 'listening', id, host, port, pid: process.pid, ...(endpoint === undefined ? {} : { metricsPort: endpoint.port }) })
    if (process.send) {
      process.once('disconnect', onDisconnect)
      // A parent that went away while this replica was starting left no 'disconnect' to hear.
      if (!process.connected) onDisconnect()
    }
  })
}

/** Tells `cluster up` (or any parent with an IPC channel) what this replica is doing. */
function notifyParent(event: ReplicaProcessEvent): void {
  if (process.send && process.connected) process.send(event)
}
