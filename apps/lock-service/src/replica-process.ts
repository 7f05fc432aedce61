import { ErrorCodes, LockstepError } from '@lockstep/interface'
import { readFileSync } from 'node:fs'
import { ReplicaHost } from '@lockstep/core'
import type { Logger, StateMachine } from '@lockstep/interface'
import { kv, mutex, register } from '@lockstep/machines'
import { lamport } from '@lockstep/order-lamport'
import { tcpTransport } from '@lockstep/transport-tcp'
import type { ParentMessage, ReplicaMessage } from './process-protocol'

// One replica of a process cluster, started by startProcessCluster with an IPC
// channel. It learns its configuration (secrets included, so they never appear
// in a command line) over the channel, listens on a free port of 127.0.0.1,
// reports it, learns its peers' ports, then serves until told to stop, sent
// SIGTERM or SIGINT, or orphaned (the channel closes).

const machines: Record<string, StateMachine> = { mutex, register, kv } as unknown as Record<string, StateMachine>

if (!process.send) {
  process.stderr.write('replica-process: start it through startProcessCluster (it needs an IPC channel)\n')
  process.exit(2)
}

let host: ReplicaHost | undefined
let transport: ReturnType<typeof tcpTransport> | undefined
let self = '?'
let stopping: Promise<void> | undefined

function send(message: ReplicaMessage): void {
  if (process.connected) process.send!(message)
}

function logger(level: 'warn' | 'error' | 'info' | 'debug', threshold: string): Logger['info'] {
  const order = ['debug', 'info', 'warn', 'error']
  return (message, fields) => {
    if (order.indexOf(level) < order.indexOf(threshold)) return
    process.stderr.write(`${self} ${new Date().toISOString()} ${level} ${message}${fields && Object.keys(fields).length > 0 ? ` ${JSON.stringify(fields)}` : ''}\n`)
  }
}

function stop(reason: string): Promise<void> {
  stopping ??= (async () => {
    try {
      if (host) await host.stop()
      else await transport?.stop()
    } catch (error) {
      process.stderr.write(`${self}: failed to stop cleanly (${reason}): ${(error as Error).message}\n`)
      process.exitCode = 1
    }
    send({ type: 'stopped', id: self })
    if (process.connected) process.disconnect()
  })()
  return stopping
}

process.on('message', (raw: ParentMessage) => {
  void handle(raw).catch((error: Error) => {
    process.stderr.write(`${self}: ${error.message}\n`)
    send({ type: 'failed', id: self, message: error.message })
    process.exitCode = 1
    void stop('failure')
  })
})
process.once('disconnect', () => void stop('parent went away'))
process.on('SIGTERM', () => void stop('SIGTERM'))
process.on('SIGINT', () => void stop('SIGINT'))

async function handle(message: ParentMessage): Promise<void> {
  switch (message.type) {
    case 'configure': {
      self = message.self
      const machine = message.machine.endsWith('.sm') ? await compileSpec(message.machine) : machines[message.machine]
      if (!machine) throw new LockstepError(ErrorCodes.INVALID_CONFIG, `unknown machine '${message.machine}'`)
      const log: Logger = { debug: logger('debug', message.logLevel), info: logger('info', message.logLevel), warn: logger('warn', message.logLevel), error: logger('error', message.logLevel) }
      // Peers' ports are not known yet (port 0): nothing is dialled until `peers` arrives.
      transport = tcpTransport({
        self,
        clusterId: message.clusterId,
        listen: { host: '127.0.0.1', port: 0 },
        peers: message.replicas.map((id) => ({ id, host: '127.0.0.1', port: 0 })),
        auth: { secret: message.replicaSecret },
        clients: { secret: message.clientSecret },
        reconnect: { maxDelayMs: 1000 },
        logger: log,
      })
      host = new ReplicaHost({
        self,
        replicas: message.replicas,
        machine,
        orderer: lamport(),
        transport,
        log,
        membership: { suspectAfterMs: 1000, viewChangeTimeoutMs: 2000 },
      })
      const { port } = await transport.bind()
      send({ type: 'bound', id: self, port, pid: process.pid })
      return
    }
    case 'peers':
      for (const peer of message.peers) if (peer.id !== self) transport!.setPeerAddress(peer.id, '127.0.0.1', peer.port)
      await host!.start()
      send({ type: 'started', id: self })
      return
    case 'status': {
      const engine = host!.engine
      send({ type: 'status', id: self, position: engine.position, digest: engine.stateDigest(), view: engine.view.members, state: engine.status })
      return
    }
    case 'stop':
      await stop('asked to stop')
      return
  }
}

/** Compiles a DSL spec (the lock service's safe mutex) into the machine this replica runs. */
async function compileSpec(path: string): Promise<StateMachine> {
  const { compileOrThrow } = await import('@lockstep/dsl')
  return compileOrThrow(readFileSync(path, 'utf8'), { file: path }).machine as unknown as StateMachine
}
