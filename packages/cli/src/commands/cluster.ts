import { setTimeout as sleep } from 'node:timers/promises'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { builtInMachineNames, isBuiltInMachineName, type BuiltInMachineName } from '@lockstep/machines'
import { intFlag, parseFlags } from '../args'
import { clusterConfigSchema, orderNames, voterNames, type VoterName } from '../cluster-config'
import { ExitCode, type Io } from '../io'
import { describeUncleanStop, upLocalCluster, type LocalCluster } from '../local-cluster'
import { ClusterSupervisor } from './cluster-supervisor'
import { loadMachine, machineSpecProblem } from '../machine-source'
import { prettyLogLine } from '../replica-log'
import { parseLogLevel } from '../stderr-logger'

/** Help text of `lockstep cluster`. */
export const clusterUsage = `lockstep cluster up [--replicas 3] [--order lamport|realtime] [--voter first|majority|byzantine] [--machine ${builtInMachineNames.join('|')}|PATH] [--storage memory|file] [--base-port 7400] [--dir .lockstep/cluster] [--log-level warn] [--restart]
lockstep cluster down [--dir .lockstep/cluster] [--json] [--timeout-ms 30000]
lockstep cluster schema

up      Starts a local cluster: one \`lockstep replica\` child process per replica
        on 127.0.0.1, with freshly generated replica and client secrets. Writes
        DIR/cluster.json (and DIR/replica.secret, DIR/client.secret, mode 600,
        and, while it runs, DIR/cluster.pid, its own pid: one cluster per
        directory, and DIR/replicas.pid, \`<id> <pid>\` per replica), prints
        the replicas' addresses and how to run a client, and runs until SIGINT
        or SIGTERM, which stop every replica cleanly. Every replica serves
        /metrics, /health and /status on a free port of 127.0.0.1 (metricsPort
        in cluster.json; see \`lockstep status\`, \`lockstep member\`).
  --replicas   number of replicas, 1 to 15 (default 3; 2F+1 tolerate F crashes)
  --order      ordering strategy: lamport (logical clocks, the default) or realtime (synchronized
               clocks; its bounds are the \`realtime\` settings of cluster.json)
  --voter      how clients decide a result from the replicas' answers (\`voter\` in cluster.json):
               first (the default), majority, or byzantine (t+1 identical answers, t = (n-1)/2; see
               docs/voting.md)
  --machine    built-in machine (${builtInMachineNames.join(', ')}; default kv), a JavaScript
               module exporting \`machine\`, or a DSL spec (.sm)
  --storage    memory (default: a replica restarted without its state rejoins by state transfer) or
               file (each replica keeps a write-ahead log under DIR/data/<id>, fsynced per batch; a reply
               waits until a majority's disks hold its request, so the cluster survives any crash,
               all replicas at once included)
  --base-port  port of r1; r2, r3, ... use the next ports (default 7400; 0 picks free ports)
  --dir        where the configuration and secrets go (default .lockstep/cluster)
  --log-level  the replicas' log level on this terminal (default warn)
  --restart    restart a replica that dies (a child or one restarted by hand) as a child,
               instead of printing how to (not one whose storage failed: it would fail again)
down    Stops the cluster that \`cluster up --dir DIR\` runs: sends it SIGTERM
        (it stops its replicas cleanly), waits until it and every replica it
        started exited, and prints what it stopped. Exit 0 when it stopped;
        1 when no cluster runs from DIR (no cluster.pid, or its process is
        gone: the stale file is removed), or when it did not stop within
        --timeout-ms (default 30000).
schema  Prints the JSON Schema of cluster.json.

A replica that dies is reported; the others go on once a majority agrees it
failed. Restart it with the command printed at start (\`lockstep replica --config
DIR/cluster.json --id <id>\`), or let --restart do it: with file storage it
recovers its disk, otherwise it starts fresh and joins by itself; either way it
rejoins by state transfer. cluster up supervises by replica id: a replica
restarted by hand counts as running while it listens on its address (probed
every second), and its death is reported like a child's; SIGINT does not stop it.
Exit 0 after a clean stop; 1 if a replica fails to start, or (with memory
storage) fewer than a majority of the configured replicas keep running (its
children are then stopped: their state cannot be recovered anyway); 2 for bad
usage. With file storage the survivors keep running whatever happens, waiting
for the others to return.`

/** `lockstep cluster`: `up` runs a local cluster as child processes; `schema` prints the configuration schema. */
export async function clusterCommand(args: string[], io: Io): Promise<number> {
  const [sub, ...rest] = args
  if (sub === 'schema') {
    io.stdout(JSON.stringify(clusterConfigSchema, null, 2))
    return ExitCode.OK
  }
  if (sub === '--help' || sub === '-h' || sub === 'help') {
    io.stdout(clusterUsage)
    return ExitCode.OK
  }
  if (sub === 'down') return clusterDown(rest, io)
  if (sub !== 'up') {
    io.stderr(`lockstep cluster: ${sub === undefined ? 'a subcommand is required' : `unknown subcommand '${sub}'`}\n\n${clusterUsage}`)
    return ExitCode.USAGE
  }
  return clusterUp(rest, io)
}

async function clusterUp(args: string[], io: Io): Promise<number> {
  const { values } = parseFlags('cluster up', args, {
    replicas: { type: 'string' },
    order: { type: 'string' },
    voter: { type: 'string' },
    machine: { type: 'string' },
    'base-port': { type: 'string' },
    dir: { type: 'string' },
    'log-level': { type: 'string' },
    storage: { type: 'string' },
    restart: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  })
  if (values.help) {
    io.stdout(clusterUsage)
    return ExitCode.OK
  }
  const replicas = intFlag('cluster up', 'replicas', values.replicas as string | undefined, 3, 1, 15)
  const basePort = intFlag('cluster up', 'base-port', values['base-port'] as string | undefined, 7400, 0, 65535)
  if (basePort > 0 && basePort + replicas - 1 > 65535) {
    io.stderr(`lockstep cluster up: --base-port ${basePort} leaves no room for ${replicas} replicas below port 65536`)
    return ExitCode.USAGE
  }
  const order = (values.order as string | undefined) ?? 'lamport'
  if (!(orderNames as readonly string[]).includes(order)) {
    io.stderr(`lockstep cluster up: --order '${order}' is not available; this version orders with: ${orderNames.join(', ')}`)
    return ExitCode.USAGE
  }
  const voter = (values.voter as string | undefined) ?? 'first'
  if (!(voterNames as readonly string[]).includes(voter)) {
    io.stderr(`lockstep cluster up: --voter '${voter}' is not a voter; choose from ${voterNames.join(', ')}`)
    return ExitCode.USAGE
  }
  const machine = (values.machine as string | undefined) ?? 'kv'
  const machineProblem = machineSpecProblem(machine)
  if (machineProblem !== undefined) {
    io.stderr(`lockstep cluster up: --machine '${machine}' ${machineProblem}`)
    return ExitCode.USAGE
  }
  const storage = (values.storage as string | undefined) ?? 'memory'
  if (storage !== 'memory' && storage !== 'file') {
    io.stderr(`lockstep cluster up: --storage must be memory or file (got '${storage}')`)
    return ExitCode.USAGE
  }
  const logLevel = parseLogLevel('cluster up', values['log-level'] as string | undefined, 'warn')
  const dir = resolve((values.dir as string | undefined) ?? '.lockstep/cluster')
  // Load the machine here first, so a broken module or spec is reported once, before any process starts.
  await loadMachine(machine, process.cwd(), io, '--machine')

  // One cluster per directory: a second `up` would overwrite the secrets the running one's clients read.
  const pidFile = join(dir, 'cluster.pid')
  const owner = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim())
  if (Number.isSafeInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner)) {
    io.stderr(`lockstep cluster up: a cluster started from ${dir} is still running (cluster up pid ${owner}); stop it (Ctrl-C there, or kill -INT ${owner}) or pass another --dir`)
    return ExitCode.USAGE
  }
  await mkdir(dir, { recursive: true })
  await writeFile(pidFile, `${process.pid}\n`, 'utf8')

  let cluster: LocalCluster
  try {
    // The replicas log JSON lines (their stderr is a pipe); on a terminal they are shown as readable lines.
    const shown = process.stderr.isTTY ? prettyLogLine() : (line: string) => line
    cluster = await upLocalCluster({ dir, replicas, order: order as 'lamport' | 'realtime', voter: voter as VoterName, machine, basePort, logLevel, onLog: (line) => io.stderr(shown(line)), storage })
  } catch (error) {
    await rm(pidFile, { force: true })
    io.stderr(`lockstep cluster up: the cluster did not start: ${(error as Error).message}`)
    return ExitCode.FAILED
  }
  const replicaPidFile = join(dir, 'replicas.pid')
  const recordReplicaPids = () =>
    writeFile(replicaPidFile, cluster.replicas.map((r) => `${r.id} ${r.pid}\n`).join(''), 'utf8').catch((error: unknown) =>
      io.stderr(`lockstep cluster: cannot write ${replicaPidFile} (cluster down reads it): ${(error as Error).message}`),
    )
  await recordReplicaPids()
  // The signals are caught before "cluster ready" is printed: a supervisor that reads it and at once sends
  // SIGINT must find the handler in place. Found: on a loaded machine this process was descheduled right after
  // printing, the test's SIGINT came first, and Node's default action ended it without stopping the replicas.
  let onSignal: (signal: string) => void = () => {}
  const signalled = new Promise<{ signal: string }>((resolveSignal) => (onSignal = (signal) => resolveSignal({ signal })))
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  io.stdout(describeCluster(cluster))

  const supervisor = new ClusterSupervisor(cluster, {
    restart: values.restart === true,
    io,
    restartCommand: (id) => restartCommand(cluster.configFile, id),
    onRestarted: recordReplicaPids,
  })
  const outcome = await new Promise<{ signal: string } | { lost: true }>((resolveOutcome) => {
    signalled.then(resolveOutcome, () => {})
    supervisor.lost.then(() => resolveOutcome({ lost: true }), () => {})
    supervisor.start()
  })
  supervisor.close()
  process.off('SIGINT', onSignal)
  process.off('SIGTERM', onSignal)
  // Further signals while stopping are only acknowledged: the replicas are already on their way
  // out, and would stop by themselves (their IPC channel closes) if this process were killed.
  const impatient = () => io.stderr('lockstep cluster: still stopping the replicas')
  process.on('SIGINT', impatient)
  process.on('SIGTERM', impatient)
  if ('signal' in outcome) io.stderr(`lockstep cluster: ${outcome.signal}: stopping ${cluster.running().length} replicas`)
  for (const stopped of await cluster.stop()) {
    const problem = describeUncleanStop(stopped)
    if (problem !== undefined) io.stderr(`lockstep cluster: error: ${problem}`)
  }
  await rm(replicaPidFile, { force: true })
  await rm(pidFile, { force: true })
  // Replicas restarted by hand run outside this process: say so rather than leave them running unmentioned.
  for (const { id, host, port } of await supervisor.outside()) {
    io.stderr(`lockstep cluster: replica ${id} at ${host}:${port} was not started by this cluster up and still runs: stop it where it was started (Ctrl-C there)`)
  }
  process.off('SIGINT', impatient)
  process.off('SIGTERM', impatient)
  io.stdout(`lockstep cluster: stopped (${cluster.replicas.map((r) => `${r.id} pid ${r.pid}`).join(', ')})`)
  return 'lost' in outcome ? ExitCode.FAILED : ExitCode.OK
}

async function clusterDown(args: string[], io: Io): Promise<number> {
  const { values } = parseFlags('cluster down', args, {
    dir: { type: 'string' },
    json: { type: 'boolean' },
    'timeout-ms': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  })
  if (values.help) {
    io.stdout(clusterUsage)
    return ExitCode.OK
  }
  const timeoutMs = intFlag('cluster down', 'timeout-ms', values['timeout-ms'] as string | undefined, 30_000, 1, 3_600_000)
  const dir = resolve((values.dir as string | undefined) ?? '.lockstep/cluster')
  const json = values.json === true
  const pidFile = join(dir, 'cluster.pid')
  const replicaPidFile = join(dir, 'replicas.pid')
  const report = (code: number, fields: Record<string, unknown>, text: string) => {
    if (json) io.stdout(JSON.stringify({ dir, ...fields }))
    else if (code === ExitCode.OK) io.stdout(text)
    else io.stderr(text)
    return code
  }
  const pidText = await readFile(pidFile, 'utf8').catch(() => undefined)
  const pid = Number(pidText?.trim())
  if (pidText === undefined || !Number.isSafeInteger(pid) || pid <= 0) {
    return report(ExitCode.FAILED, { stopped: false, reason: 'not running' }, `lockstep cluster down: no cluster runs from ${dir} (${pidText === undefined ? 'no cluster.pid there' : `cluster.pid holds no pid: '${pidText.trim()}'`})`)
  }
  const replicas = ((await readFile(replicaPidFile, 'utf8').catch(() => '')) as string)
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((fields): fields is [string, string] => fields.length === 2 && Number.isSafeInteger(Number(fields[1])))
    .map(([id, replicaPid]) => ({ id, pid: Number(replicaPid) }))
  const commandLine = await readFile(`/proc/${pid}/cmdline`, 'utf8').then((text) => text.split('\0').join(' '), () => undefined)
  // The pid is still a cluster up (not a process that reused a stale pid): its arguments say `cluster up`, whatever
  // the path it was started by (`lockstep`, `npx lockstep`, `node path/to/dist/bin.js`).
  if (!isAlive(pid) || (commandLine !== undefined && !/(^|\s)cluster up(\s|$)/.test(commandLine))) {
    await rm(pidFile, { force: true })
    await rm(replicaPidFile, { force: true })
    const gone = !isAlive(pid) ? `its cluster up (pid ${pid}) is gone` : `pid ${pid} is no longer a cluster up (${commandLine!.trim().slice(0, 120)})`
    return report(ExitCode.FAILED, { stopped: false, reason: 'not running', pid }, `lockstep cluster down: no cluster runs from ${dir}: ${gone}; removed the stale cluster.pid`)
  }
  try {
    process.kill(pid, 'SIGTERM')
  } catch (error) {
    return report(ExitCode.FAILED, { stopped: false, reason: 'signal failed', pid }, `lockstep cluster down: cannot signal cluster up (pid ${pid}): ${(error as Error).message}`)
  }
  if (!json) io.stderr(`lockstep cluster down: sent SIGTERM to cluster up (pid ${pid}); waiting for it and its ${replicas.length} replicas to exit`)
  const deadline = Date.now() + timeoutMs
  const running = () => [pid, ...replicas.map((r) => r.pid)].filter(isAlive)
  while (running().length > 0 && Date.now() < deadline) await sleep(100)
  const left = running()
  if (left.length > 0) {
    const which = [...(left.includes(pid) ? [`cluster up (pid ${pid})`] : []), ...replicas.filter((r) => left.includes(r.pid)).map((r) => `replica ${r.id} (pid ${r.pid})`)]
    return report(ExitCode.FAILED, { stopped: false, reason: 'timeout', pid, running: left }, `lockstep cluster down: TIMEOUT: still running after ${timeoutMs} ms: ${which.join(', ')}; try again, or stop them with kill -KILL`)
  }
  return report(
    ExitCode.OK,
    { stopped: true, pid, replicas },
    `lockstep cluster down: stopped the cluster of ${dir}: cluster up pid ${pid}${replicas.length > 0 ? `, ${replicas.map((r) => `${r.id} pid ${r.pid}`).join(', ')}` : ''}`,
  )
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function describeCluster(cluster: LocalCluster): string {
  const { config, configFile } = cluster
  const width = Math.max(...cluster.replicas.map((r) => r.id.length), 'secrets'.length)
  const example = clientExample(config.machine)
  return [
    `lockstep cluster: ${cluster.replicas.length} replicas of ${config.machine}, ${config.order} ordering, on 127.0.0.1`,
    `  ${'config'.padEnd(width)}  ${configFile}`,
    ...cluster.replicas.map((r) => `  ${r.id.padEnd(width)}  ${r.host}:${r.port}  pid ${r.pid}${r.metricsPort === undefined ? '' : `  metrics http://${r.host}:${r.metricsPort}/metrics`}`),
    `  ${'secrets'.padEnd(width)}  replica.secret, client.secret beside the config (mode 600)`,
    `  ${'storage'.padEnd(width)}  ${config.storage.type === 'file' ? `file: ${join(config.baseDir, config.storage.dir)}/<id>, fsync per batch` : 'memory'}`,
    'Restart a replica that died (the same command that started it):',
    ...cluster.replicas.map((r) => `  ${restartCommand(configFile, r.id)}`),
    'Run a client:',
    `  npx lockstep client --cluster ${configFile} ${example}`,
    'Watch it, change its members, stop it:',
    `  npx lockstep status --cluster ${configFile}`,
    `  npx lockstep member list --cluster ${configFile}`,
    `  npx lockstep cluster down --dir ${dirname(configFile)}`,
    'cluster ready; Ctrl-C (SIGINT) or SIGTERM stops every replica.',
  ].join('\n')
}

/** The command that starts replica `id` of the cluster described by `configFile`, as `cluster up` does. */
function restartCommand(configFile: string, id: string): string {
  return `npx lockstep replica --config ${configFile} --id ${id}`
}

/** A first command to try on each built-in machine (typed by the registry, so a new machine needs one). */
const clientExamples: Readonly<Record<BuiltInMachineName, string>> = {
  mutex: 'acquire',
  register: `write '{"value":1}'`,
  kv: `put '{"key":"a","value":"1"}'`,
}

function clientExample(machine: string): string {
  return isBuiltInMachineName(machine) ? clientExamples[machine] : '<command> \'<json-args>\''
}
