/**
 * The scenario language: one command per line, `name positional… key=value…`.
 * Each command checks its arguments and runs against an {@link InteractionEnv},
 * returning the lines it prints.
 */
import type { ClientToReplica, ReplicaToClient, StateMachine } from '@lockstep/interface'
import { kv, mutex, register } from '@lockstep/machines'
import type { PeerMessageKind } from '../../src/engine/peer-messages'
import { InteractionEnv, ScenarioError, type Detail, type MessageSelector } from './interaction-env'

/** The machines a scenario may run (`add-replicas 3 machine=mutex`). */
const machines: Readonly<Record<string, StateMachine>> = { kv, register, mutex }

/** A command line split into positional words and `key=value` options. */
export interface CommandLine {
  readonly name: string
  readonly words: readonly string[]
  readonly options: ReadonlyMap<string, string>
}

/** Splits a command line. Words containing `=` are options, except after the client id of `submit`. */
export function parseCommandLine(text: string): CommandLine {
  const tokens = text.trim().split(/\s+/)
  const name = tokens[0] ?? ''
  const words: string[] = []
  const options = new Map<string, string>()
  for (const [i, token] of tokens.slice(1).entries()) {
    // `submit r1 c1 put k=v 1`: the machine command's own words are taken verbatim.
    const verbatim = name === 'submit' && i >= 2
    const eq = token.indexOf('=')
    if (!verbatim && eq > 0) options.set(token.slice(0, eq), token.slice(eq + 1))
    else words.push(token)
  }
  return { name, words, options }
}

interface CommandSpec {
  readonly usage: string
  /** The options it accepts. */
  readonly options?: readonly string[]
  /** Flag words it accepts among its positional words (`verbose`, `quiet`). */
  readonly flags?: readonly string[]
  run(env: InteractionEnv, args: Args): string[]
}

/** A parsed command's arguments, with checks that name the command in their messages. */
class Args {
  readonly words: string[]
  private readonly flagsSet: Set<string>

  constructor(
    private readonly name: string,
    private readonly spec: CommandSpec,
    line: CommandLine,
  ) {
    for (const key of line.options.keys()) {
      if (!(spec.options ?? []).includes(key)) throw this.error(`unknown option '${key}='`)
    }
    this.flagsSet = new Set(line.words.filter((w) => (spec.flags ?? []).includes(w)))
    this.words = line.words.filter((w) => !(spec.flags ?? []).includes(w))
    this.options = line.options
  }

  readonly options: ReadonlyMap<string, string>

  flag(name: string): boolean {
    return this.flagsSet.has(name)
  }

  /** The i-th positional word, required. */
  word(i: number, what: string): string {
    const value = this.words[i]
    if (value === undefined) throw this.error(`missing ${what}`)
    return value
  }

  /** Fails if there are more positional words than `count`. */
  atMost(count: number): void {
    if (this.words.length > count) throw this.error(`unexpected '${this.words.slice(count).join(' ')}'`)
  }

  integer(text: string | undefined, what: string, fallback?: number): number {
    if (text === undefined) {
      if (fallback === undefined) throw this.error(`missing ${what}`)
      return fallback
    }
    const value = Number(text.replace(/ms$/, ''))
    if (!Number.isSafeInteger(value) || value < 0) throw this.error(`${what} must be a non-negative integer, got '${text}'`)
    return value
  }

  onOff(key: string, fallback: boolean): boolean {
    const value = this.options.get(key)
    if (value === undefined) return fallback
    if (value === 'on' || value === 'true') return true
    if (value === 'off' || value === 'false') return false
    throw this.error(`${key} must be on or off, got '${value}'`)
  }

  error(message: string): ScenarioError {
    return new ScenarioError(`${this.name}: ${message} (usage: ${this.spec.usage})`)
  }
}

/** Every command of the language, with its usage line. */
export const commands: Readonly<Record<string, CommandSpec>> = {
  'add-replicas': {
    usage: 'add-replicas N [spares=K] [membership=on|off] [durable=on|off] [machine=kv|register|mutex] [heartbeat=MS] [suspect=MS] [view-change=MS] [order-heartbeat=MS] [suffix-window=N]',
    options: ['spares', 'membership', 'durable', 'machine', 'heartbeat', 'suspect', 'view-change', 'order-heartbeat', 'suffix-window'],
    run(env, args) {
      args.atMost(1)
      const replicas = args.integer(args.words[0], 'the number of replicas')
      if (replicas < 1) throw args.error('need at least one replica')
      const machineName = args.options.get('machine') ?? 'kv'
      const machine = machines[machineName]
      if (!machine) throw args.error(`unknown machine '${machineName}' (machines: ${Object.keys(machines).join(', ')})`)
      const membership = args.onOff('membership', true)
        ? {
            heartbeatMs: args.integer(args.options.get('heartbeat'), 'heartbeat', 10),
            suspectAfterMs: args.integer(args.options.get('suspect'), 'suspect', 30),
            viewChangeTimeoutMs: args.integer(args.options.get('view-change'), 'view-change', 60),
          }
        : undefined
      return env.addReplicas({
        replicas,
        spares: args.integer(args.options.get('spares'), 'spares', 0),
        machine,
        membership,
        durable: args.onOff('durable', false),
        orderHeartbeatMs: args.integer(args.options.get('order-heartbeat'), 'order-heartbeat', 1000),
        ...(args.options.has('suffix-window') && { suffixWindow: args.integer(args.options.get('suffix-window'), 'suffix-window') }),
      })
    },
  },
  start: {
    usage: 'start rN (a configured spare, or a replica an operator admitted: it asks to join)',
    run(env, args) {
      args.atMost(1)
      return env.startReplica(args.word(0, 'the replica'))
    },
  },
  submit: {
    usage: 'submit rN CLIENT COMMAND ARGS… (e.g. submit r1 c1 put x 1; it is sent at the next flush, tick or delivery)',
    run(env, args) {
      const replica = args.word(0, 'the replica')
      const client = args.word(1, 'the client')
      const command = machineCommand(env, args, args.words.slice(2))
      return env.submit(replica, client, command, 'all')
    },
  },
  retry: {
    usage: 'retry rN CLIENT [seq=N] (sends the client\'s request #N, by default its last, again)',
    options: ['seq'],
    run(env, args) {
      args.atMost(2)
      const seq = args.options.has('seq') ? args.integer(args.options.get('seq'), 'seq') : undefined
      return env.retry(args.word(0, 'the replica'), args.word(1, 'the client'), seq, 'all')
    },
  },
  'fetch-outputs': {
    usage: 'fetch-outputs rN CLIENT [from=N] (the client asks for the outputs numbered N on)',
    options: ['from'],
    run(env, args) {
      args.atMost(2)
      return env.fetchOutputs(args.word(0, 'the replica'), args.word(1, 'the client'), args.integer(args.options.get('from'), 'from', 1))
    },
  },
  'deliver-msgs': {
    usage: 'deliver-msgs [r1->r2 | r1->* | rN (to rN) | all]… [type=KIND[,KIND…]] [count=N] [brief|quiet] (type= may overtake other messages on a link)',
    options: ['type', 'count'],
    flags: ['brief', 'quiet'],
    run(env, args) {
      const count = args.options.has('count') ? args.integer(args.options.get('count'), 'count') : undefined
      return env.deliver(selectors(env, args), kinds(args), count, detail(args, 'all'))
    },
  },
  'drop-msgs': {
    usage: 'drop-msgs [r1->r2 | r1->* | rN (to rN) | all]… [type=KIND[,KIND…]]',
    options: ['type'],
    run(env, args) {
      if (args.words.length === 0 && !args.options.has('type')) throw args.error('say which messages (all, a link r1->r2, a replica, or type=)')
      return env.drop(selectors(env, args), kinds(args))
    },
  },
  msgs: {
    usage: 'msgs [r1->r2 | r1->* | rN | all]… [verbose] (lists the messages in flight)',
    flags: ['verbose'],
    run(env, args) {
      return env.messages(selectors(env, args), args.flag('verbose') ? 'all' : 'brief')
    },
  },
  stabilize: {
    usage: 'stabilize [verbose|quiet] (delivers everything until nothing is in flight; verbose also prints heartbeats and bare acknowledgements, quiet prints only what changed at the replicas)',
    flags: ['verbose', 'quiet'],
    run(env, args) {
      args.atMost(0)
      return env.stabilize(detail(args))
    },
  },
  tick: {
    usage: 'tick MS [verbose|quiet] (advances the clock, then ticks every live replica)',
    flags: ['verbose', 'quiet'],
    run(env, args) {
      args.atMost(1)
      return env.tick(args.integer(args.words[0], 'the milliseconds'), detail(args))
    },
  },
  run: {
    usage: 'run MS [step=MS] [verbose|quiet] (repeats: tick by step, then stabilize; prints what is not routine, or with quiet only what changed at the replicas)',
    options: ['step'],
    flags: ['verbose', 'quiet'],
    run(env, args) {
      args.atMost(1)
      const step = args.integer(args.options.get('step'), 'step', 10)
      if (step === 0) throw args.error('step must be > 0')
      return env.runFor(args.integer(args.words[0], 'the milliseconds'), step, detail(args))
    },
  },
  flush: {
    usage: 'flush [rN…] [verbose|quiet] (ends the burst: orderers send what they batched)',
    flags: ['verbose', 'quiet'],
    run(env, args) {
      return env.flush(args.words, detail(args))
    },
  },
  crash: {
    usage: 'crash rN (loses its memory and every message in flight to or from it; its disk stays)',
    run(env, args) {
      args.atMost(1)
      return env.crash(args.word(0, 'the replica'))
    },
  },
  restart: {
    usage: 'restart rN [from-disk|amnesia] (default: from-disk for durable replicas, amnesia otherwise)',
    flags: ['from-disk', 'amnesia'],
    run(env, args) {
      args.atMost(1)
      const mode = args.flag('from-disk') ? 'from-disk' : args.flag('amnesia') ? 'amnesia' : undefined
      if (args.flag('from-disk') && args.flag('amnesia')) throw args.error('from-disk or amnesia, not both')
      return env.restart(args.word(0, 'the replica'), mode)
    },
  },
  partition: {
    usage: 'partition r1 r2 | r3 [| r4 …] (cuts every link between the groups; one group: from everyone else; messages wait)',
    run(env, args) {
      const groups: string[][] = [[]]
      for (const word of args.words) {
        if (word === '|') groups.push([])
        else groups.at(-1)!.push(word)
      }
      if (groups.some((g) => g.length === 0)) throw args.error('every group needs a replica')
      return env.partition(groups)
    },
  },
  cut: {
    usage: 'cut r1 -> r2 (cuts the link one way: what r1 sends r2 waits, what r2 sends r1 goes on; heal restores it)',
    run(env, args) {
      args.atMost(3)
      if (args.words[1] !== '->') throw args.error('the link is written FROM -> TO')
      return env.cut(args.word(0, 'the sender'), args.word(2, 'the receiver'))
    },
  },
  heal: {
    usage: 'heal [r1 -> r2] (restores every link, or the one link named; held messages go on)',
    run(env, args) {
      args.atMost(3)
      if (args.words.length === 0) return env.heal()
      if (args.words[1] !== '->') throw args.error('the link is written FROM -> TO')
      return env.heal(args.word(0, 'the sender'), args.word(2, 'the receiver'))
    },
  },
  unreachable: {
    usage: 'unreachable rN PEER [full] (rN\'s host could not send to PEER; full: nor any later message, until heal)',
    run(env, args) {
      args.atMost(3)
      if (args.words.length === 3 && args.words[2] !== 'full') throw args.error("the third word can only be 'full'")
      return env.unreachable(args.word(0, 'the replica'), args.word(1, 'the peer'), args.words[2] === 'full')
    },
  },
  remove: {
    usage: 'remove rN via rM (operator command at rM)',
    run(env, args) {
      args.atMost(3)
      if (args.words[1] !== 'via') throw args.error("say where: 'remove r3 via r1'")
      return env.remove(args.word(0, 'the replica'), args.word(2, 'the replica the operator talks to'))
    },
  },
  admit: {
    usage: 'admit rN via rM (operator command at rM)',
    run(env, args) {
      args.atMost(3)
      if (args.words[1] !== 'via') throw args.error("say where: 'admit r3 via r1'")
      return env.admit(args.word(0, 'the replica'), args.word(2, 'the replica the operator talks to'))
    },
  },
  status: {
    usage: 'status [rN…] [digest] (status, view, position, pending and state of each replica)',
    flags: ['digest'],
    run(env, args) {
      return env.status(args.words, args.flag('digest'))
    },
  },
  replies: {
    usage: 'replies [CLIENT…] (what clients got)',
    run(env, args) {
      return env.replies(args.words)
    },
  },
  invariants: {
    usage: 'invariants record|fail (record: violations are printed as output instead of failing the test; for # BUG: scenarios)',
    flags: ['record', 'fail'],
    run(env, args) {
      args.atMost(0)
      if (args.flag('record') === args.flag('fail')) throw args.error('say record or fail')
      env.recordViolations = args.flag('record')
      return []
    },
  },
  disk: {
    usage: 'disk rN (what a durable replica has on its disk)',
    run(env, args) {
      args.atMost(1)
      return env.disk(args.word(0, 'the replica'))
    },
  },
  'hold-disk': {
    usage: 'hold-disk rN (its disk stops syncing, as a slow fsync: writes wait, a crash loses them; a vote syncs them)',
    run(env, args) {
      args.atMost(1)
      return env.holdDisk(args.word(0, 'the replica'))
    },
  },
  'lose-disk-tail': {
    usage: 'lose-disk-tail rN requests=K (a crashed replica\'s disk loses the last K requests it had synced, and all after them, with no trace: the log just ends earlier)',
    options: ['requests'],
    run(env, args) {
      args.atMost(1)
      return env.loseDiskTail(args.word(0, 'the replica'), args.integer(args.options.get('requests'), 'requests'))
    },
  },
  'sync-disk': {
    usage: 'sync-disk rN (its disk syncs what waited, and syncs at once again)',
    run(env, args) {
      args.atMost(1)
      return env.syncDisk(args.word(0, 'the replica'))
    },
  },
}

/** Runs one command line; unknown commands and bad arguments throw a {@link ScenarioError}. */
export function runCommand(env: InteractionEnv, text: string): string[] {
  const line = parseCommandLine(text)
  const spec = commands[line.name]
  if (!spec) throw new ScenarioError(`unknown command '${line.name}' (commands: ${Object.keys(commands).join(', ')})`)
  return spec.run(env, new Args(line.name, spec, line))
}

/** `r1->r2`, `r1->*`, `*->r2`, `r2` (messages to r2), `all`. */
function selectors(env: InteractionEnv, args: Args): MessageSelector[] {
  const result: MessageSelector[] = []
  // A name no message can carry (a typo, a replica to itself) would select nothing, silently.
  const endpoint = (name: string): string | undefined => {
    if (name === '*') return undefined
    try {
      env.checkEndpoint(name)
    } catch (error) {
      throw args.error((error as Error).message)
    }
    return name
  }
  for (const word of args.words) {
    if (word === 'all') return []
    const link = /^([\w*]+)->([\w*]+)$/.exec(word)
    if (link) {
      if (link[1] === link[2] && link[1] !== '*') throw args.error(`'${word}' is a link from ${link[1]} to itself, which no message is on`)
      result.push({ from: endpoint(link[1]!), to: endpoint(link[2]!) })
    } else if (/^\w+$/.test(word)) result.push({ from: undefined, to: endpoint(word) })
    else throw args.error(`'${word}' is not a link (r1->r2), a replica or all`)
  }
  return result
}

/** The detail a command prints: `verbose` (everything), `quiet` (only what changed at the replicas), else `fallback`. */
function detail(args: Args, fallback: Detail = 'brief'): Detail {
  if (args.flag('verbose') && args.flag('quiet')) throw args.error('verbose or quiet, not both')
  return args.flag('verbose') ? 'all' : args.flag('quiet') ? 'outcomes' : args.flag('brief') ? 'brief' : fallback
}

/**
 * Every kind `type=` may name, as {@link messageKind} tells them: the engine's peer messages (the compiler holds this
 * list to `PeerMessageKind`), the orderers' messages by their own kind, and the messages between clients and replicas.
 * A kind outside it (a typo, or a kind since renamed: `state?` selected nothing, silently, and a scenario's story of
 * lost state requests did not happen) is an error.
 */
const peerKinds: Readonly<Record<PeerMessageKind, true>> = {
  orderer: true, heartbeat: true, prepare: true, promise: true, nack: true, accept: true, accepted: true, commit: true, query: true, removed: true,
  join: true, remove: true, admit: true, recover: true, stateRequest: true, stateChunk: true, durable: true, stateSuffix: true,
  replySignatures: true, stateDigest: true, signatureRequest: true,
}
const clientKinds: Readonly<Record<ClientToReplica['type'] | ReplicaToClient['type'], true>> = { request: true, outputs: true, evidence: true, reply: true, output: true, 'no-outputs': true }
const messageKinds = new Set([...Object.keys(peerKinds), ...Object.keys(clientKinds), 'lamport', 'realtime'])

function kinds(args: Args): string[] | undefined {
  const named = args.options.get('type')?.split(',')
  const unknown = named?.find((kind) => !messageKinds.has(kind))
  if (unknown !== undefined) throw args.error(`no message is of kind '${unknown}' (kinds: ${[...messageKinds].sort().join(', ')})`)
  return named
}

/**
 * A machine command from words: the name, then the values of its arguments in the order its command schema
 * lists them (`put x 1` is `{ name: 'put', args: { key: 'x', value: '1' } }`). String arguments are taken
 * verbatim, others as JSON when they parse. Commands the schema does not know are sent as they are, so
 * scenarios can show the engine refusing them.
 */
function machineCommand(env: InteractionEnv, args: Args, words: readonly string[]): unknown {
  const [name, ...values] = words
  if (!name) throw args.error('missing the machine command')
  const schema = commandArguments(env.machine, name)
  if (!schema) return values.length === 0 ? { name } : { name, args: Object.fromEntries(values.map((v, i) => [`arg${i + 1}`, v])) }
  if (values.length > schema.length) throw args.error(`'${name}' takes ${schema.length} argument${schema.length === 1 ? '' : 's'} (${schema.map((s) => s.name).join(', ') || 'none'}), got ${values.length}`)
  if (schema.length === 0) return { name }
  const commandArgs: Record<string, unknown> = {}
  values.forEach((value, i) => {
    const { name: argName, type } = schema[i]!
    commandArgs[argName] = type === 'string' ? value : parseJson(value)
  })
  return { name, args: commandArgs }
}

/** The arguments of command `name` in the machine's command schema, in order; undefined if it has none by that name. */
function commandArguments(machine: StateMachine, name: string): { name: string; type: string | undefined }[] | undefined {
  const schema = machine.commandSchema as { oneOf?: { properties?: { name?: { const?: string }; args?: { properties?: Record<string, { type?: string }> } } }[] } | undefined
  const branch = schema?.oneOf?.find((b) => b.properties?.name?.const === name)
  if (!branch) return undefined
  return Object.entries(branch.properties?.args?.properties ?? {}).map(([argName, s]) => ({ name: argName, type: s.type }))
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}
