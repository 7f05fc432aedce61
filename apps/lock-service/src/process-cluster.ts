import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { LockstepClient } from '@lockstep/client'
import { realScheduler } from '@lockstep/core'
import { ErrorCodes, LockstepError } from '@lockstep/interface'
import { tcpClientTransport } from '@lockstep/transport-tcp'
import type { ParentMessage, ReplicaMessage } from './process-protocol'

/** Options of {@link startProcessCluster}. */
export interface ProcessClusterOptions {
  /** Default 3. */
  readonly replicas?: number
  /** 'mutex', 'register', 'kv', or the path of a DSL spec (.sm). Default 'mutex'. */
  readonly machine?: string
  /** The replicas' log level (their stderr goes to `onLog`). Default 'warn'. */
  readonly logLevel?: 'debug' | 'info' | 'warn' | 'error'
  /** Each line a replica writes to stderr. Default: written to this process's stderr. */
  readonly onLog?: (line: string) => void
  /** Give up when the replicas are not all serving after this long. Default 30 s. */
  readonly startTimeoutMs?: number
}

/** One replica process. */
export interface ReplicaProcess {
  readonly id: string
  readonly host: '127.0.0.1'
  readonly port: number
  readonly pid: number
}

/** What a replica reports about itself. */
export interface ReplicaStatus {
  readonly id: string
  /** Requests delivered so far. */
  readonly position: number
  /** Digest of the state machine's state. */
  readonly digest: string
  /** Members of its current view. */
  readonly view: readonly string[]
  /** 'normal', 'frozen', 'transferring' or 'joining'. */
  readonly state: string
}

/** A cluster of replica processes on 127.0.0.1, talking TCP. */
export interface ProcessCluster {
  readonly clusterId: string
  readonly replicas: readonly ReplicaProcess[]
  /** A started client over TCP that tries replica number `preferred` first. */
  client(id: string, preferred?: number): Promise<LockstepClient>
  /** Asks every running replica for its position and state digest. */
  status(): Promise<ReplicaStatus[]>
  /** Stops every client it made, then every replica (SIGKILL after 10 s), and waits until they exited. */
  stop(): Promise<void>
}

/**
 * Starts replicas as child processes of this one (the lock service's own
 * replica program, dist/replica-process.js, under the running Node). Each
 * listens on a port the OS picks, so nothing needs configuring and nothing
 * races for a port; fresh replica and client secrets are generated and handed
 * over the IPC channel. Children stop by themselves if this process dies.
 */
export async function startProcessCluster(options: ProcessClusterOptions = {}): Promise<ProcessCluster> {
  const count = options.replicas ?? 3
  const ids = Array.from({ length: count }, (_, i) => `r${i + 1}`)
  const clusterId = `lock-service-${randomBytes(4).toString('hex')}`
  const replicaSecret = randomBytes(32).toString('hex')
  const clientSecret = randomBytes(32).toString('hex')
  const script = replicaScript()
  const onLog = options.onLog ?? ((line: string) => void process.stderr.write(`${line}\n`))
  const children = new Map<string, ChildProcess>()
  const exited = new Map<string, Promise<void>>()
  const clients: LockstepClient[] = []
  const statusWaiters = new Map<string, (status: ReplicaStatus) => void>()
  let stopping: Promise<void> | undefined

  const stop = () => {
    stopping ??= (async () => {
      await Promise.allSettled(clients.map((c) => c.stop()))
      await Promise.all([...children].map(([id, child]) => stopChild(child, exited.get(id)!)))
    })()
    return stopping
  }

  const bound = new Map<string, ReplicaProcess>()
  try {
    const waitAll = (type: 'bound' | 'started') =>
      Promise.all(
        ids.map(
          (id) =>
            new Promise<void>((resolve, reject) => {
              const child = children.get(id)!
              const onMessage = (message: ReplicaMessage) => {
                if (message.type === type) {
                  if (message.type === 'bound') bound.set(id, { id, host: '127.0.0.1', port: message.port, pid: message.pid })
                  child.off('message', onMessage)
                  resolve()
                } else if (message.type === 'failed') reject(new LockstepError(ErrorCodes.STOPPED, `replica ${id} failed to start: ${message.message}`))
              }
              child.on('message', onMessage)
              void exited.get(id)!.then(() => reject(new LockstepError(ErrorCodes.STOPPED, `replica ${id} exited before it was ${type} (exit code ${child.exitCode ?? child.signalCode}); its log is above`)))
            }),
        ),
      )
    for (const id of ids) {
      const child = spawn(process.execPath, [script], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], detached: true })
      children.set(id, child)
      exited.set(id, new Promise((resolve) => child.once('exit', () => resolve())))
      forwardLines(child, onLog)
      child.on('message', (message: ReplicaMessage) => {
        if (message.type === 'status') statusWaiters.get(id)?.(message)
      })
    }
    const allBound = waitAll('bound')
    for (const id of ids) {
      const configure: ParentMessage = { type: 'configure', self: id, replicas: ids, clusterId, machine: options.machine ?? 'mutex', replicaSecret, clientSecret, logLevel: options.logLevel ?? 'warn' }
      children.get(id)!.send(configure)
    }
    const guardMs = options.startTimeoutMs ?? 30_000
    await withGuard(allBound, guardMs, `the replica processes did not all listen within ${guardMs} ms`)
    const allStarted = waitAll('started')
    const peers: ParentMessage = { type: 'peers', peers: ids.map((id) => ({ id, port: bound.get(id)!.port })) }
    for (const child of children.values()) child.send(peers)
    await withGuard(allStarted, guardMs, `the replica processes did not all start within ${guardMs} ms`)
  } catch (error) {
    await stop()
    throw error
  }

  const replicas = ids.map((id) => bound.get(id)!)
  return {
    clusterId,
    replicas,
    async client(id, preferred = 0) {
      const order = [...ids.slice(preferred % count), ...ids.slice(0, preferred % count)]
      const transport = tcpClientTransport({
        self: id,
        clusterId,
        replicas: replicas.map((r) => ({ id: r.id, host: r.host, port: r.port })),
        auth: { secret: clientSecret },
        reconnect: { maxDelayMs: 1000 },
      })
      const client = new LockstepClient({ id, transport, replicas: order, scheduler: realScheduler() })
      clients.push(client)
      await client.start()
      return client
    },
    async status() {
      const running = ids.filter((id) => children.get(id)!.connected)
      return Promise.all(
        running.map(
          (id) =>
            new Promise<ReplicaStatus>((resolve) => {
              statusWaiters.set(id, (status) => {
                statusWaiters.delete(id)
                resolve(status)
              })
              children.get(id)!.send({ type: 'status' } satisfies ParentMessage)
            }),
        ),
      )
    },
    stop,
  }
}

/** This package's replica program, built next to this module's bundle. */
function replicaScript(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    const manifest = join(dir, 'package.json')
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === '@lockstep/lock-service') break
    const parent = dirname(dir)
    if (parent === dir) throw new LockstepError(ErrorCodes.INTERNAL, `cannot find the @lockstep/lock-service package above ${fileURLToPath(import.meta.url)}`)
    dir = parent
  }
  const script = join(dir, 'dist', 'replica-process.js')
  if (!existsSync(script)) {
    throw new LockstepError(ErrorCodes.INVALID_CONFIG, `${script} is missing: build the lock service first (npx -y pnpm@10.34.9 exec turbo run build --filter=@lockstep/lock-service...)`)
  }
  return script
}

async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  if (child.connected) child.send({ type: 'stop' } satisfies ParentMessage)
  else child.kill('SIGTERM')
  let timer: ReturnType<typeof setTimeout> | undefined
  await Promise.race([exited, new Promise<void>((resolve) => (timer = setTimeout(() => (child.kill('SIGKILL'), resolve()), 10_000)))])
  clearTimeout(timer)
  await exited
}

function forwardLines(child: ChildProcess, onLine: (line: string) => void): void {
  let buffered = ''
  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', (chunk: string) => {
    buffered += chunk
    const lines = buffered.split('\n')
    buffered = lines.pop()!
    for (const line of lines) onLine(line)
  })
  child.stderr?.on('end', () => {
    if (buffered) onLine(buffered)
  })
}

function withGuard<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  return Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new LockstepError(ErrorCodes.TIMEOUT, message)), ms)))]).finally(() => clearTimeout(timer))
}
