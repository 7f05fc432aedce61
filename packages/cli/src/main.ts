import { isLockstepError } from '@lockstep/interface'
import { ExitCode, type Io } from './io'

type Command = (args: string[], io: Io) => Promise<number>

/** Every `lockstep` command, loaded on demand so one command's dependencies never slow another. */
const commands: Record<string, { summary: string; load: () => Promise<Command> }> = {
  sim: { summary: 'simulate clusters on virtual time over many seeds and check every run', load: async () => (await import('./commands/sim')).simCommand },
  compile: { summary: 'compile a DSL spec (.sm) to a TypeScript module', load: async () => (await import('./commands/compile')).compileCommand },
  exec: { summary: 'run DSL commands read from stdin on one instance of a machine', load: async () => (await import('./commands/exec')).execCommand },
  check: { summary: 'model-check a DSL spec: every interleaving up to a depth, against invariants', load: async () => (await import('./commands/check')).checkCommand },
  lincheck: { summary: 'check a recorded history for linearizability', load: async () => (await import('./commands/lincheck')).lincheckCommand },
  replica: { summary: 'run one replica of a configured cluster over TCP', load: async () => (await import('./commands/replica')).replicaCommand },
  cluster: { summary: 'run a local cluster as child processes (cluster up), stop it (cluster down), print the config schema', load: async () => (await import('./commands/cluster')).clusterCommand },
  client: { summary: 'submit one command to a cluster and print its result as JSON', load: async () => (await import('./commands/client')).clientCommand },
  status: { summary: "every replica's state: up, view, position, lag, peers, requests/s, digest", load: async () => (await import('./commands/status')).statusCommand },
  member: { summary: 'list, add or remove members through the ordered view change', load: async () => (await import('./commands/member')).memberCommand },
  dashboard: { summary: 'a live web page of a running cluster: replicas up/down, views, positions, lag, requests/s, events', load: async () => (await import('./commands/dashboard')).dashboardCommand },
  bench: { summary: 'measure a running cluster: closed-loop puts or lock pairs, ops/s and p50/p99 latency', load: async () => (await import('./commands/bench')).benchCommand },
}

/** The top-level usage text. */
export function usage(): string {
  const width = Math.max(...Object.keys(commands).map((c) => c.length))
  return `lockstep: state machine replication for TypeScript

Usage: lockstep <command> [options]   (lockstep <command> --help for its options)

Commands:
${Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`).join('\n')}`
}

/** Runs the CLI; returns the exit code. */
export async function main(argv: string[], io: Io): Promise<number> {
  const [name, ...args] = argv
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.stdout(usage())
    return name ? ExitCode.OK : ExitCode.USAGE
  }
  const command = commands[name]
  if (!command) {
    io.stderr(`lockstep: unknown command '${name}'\n\n${usage()}`)
    return ExitCode.USAGE
  }
  try {
    return await (await command.load())(args, io)
  } catch (error) {
    if (isLockstepError(error)) {
      io.stderr(error.message)
      return error.code === 'INVALID_CONFIG' ? ExitCode.USAGE : ExitCode.FAILED
    }
    throw error
  }
}
