import { pino, type DestinationStream } from 'pino'
import { build as prettyStream, prettyFactory } from 'pino-pretty'
import type { Logger } from '@lockstep/interface'
import type { LogLevel } from './stderr-logger'

/** Where a replica stands, read for every log line. */
export interface LogPosition {
  /** Id of the replica's current view (null before its engine exists). */
  readonly view: number | null
  /** Requests delivered so far (null before its engine exists). */
  readonly position: number | null
}

/** Options of {@link replicaLogger}. */
export interface ReplicaLoggerOptions {
  readonly id: string
  readonly level: LogLevel
  /** The replica's current view and position, read for every line. */
  readonly where: () => LogPosition
  /** Human-readable lines instead of JSON (a terminal). Default: JSON lines. */
  readonly pretty?: boolean
  /** Where the lines go. Default: stderr (file descriptor 2), written synchronously so nothing is lost at exit. */
  readonly destination?: DestinationStream
}

/** The pretty format: `r1 v3@17 INFO: message` and the fields below it. */
const PRETTY_OPTIONS = {
  colorize: true,
  translateTime: 'SYS:HH:MM:ss.l',
  ignore: 'pid,hostname,replica,view,position',
  messageFormat: '{replica} v{view}@{position} {msg}',
} as const

/**
 * A replica's logger through pino: one JSON object per line on stderr with `time` (ISO 8601), `level` (its
 * name), `replica`, `view`, `position`, `pid` and `msg`, plus the entry's fields. On a terminal (`pretty`),
 * the same entries as readable lines. Adapted to the library's {@link Logger}.
 */
export function replicaLogger(options: ReplicaLoggerOptions): Logger {
  const destination = options.destination ?? (options.pretty ? prettyStream({ ...PRETTY_OPTIONS, destination: 2, sync: true }) : pino.destination({ dest: 2, sync: true }))
  const logger = pino(
    {
      level: options.level,
      base: { pid: process.pid, replica: options.id },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      mixin: () => ({ ...options.where() }),
      // The entry's own fields never hide where the replica stands.
      mixinMergeStrategy: (mergeObject, mixinObject) => ({ ...mergeObject, ...mixinObject }),
    },
    destination,
  )
  const at = (level: LogLevel) => (message: string, fields?: Record<string, unknown>) => {
    if (fields === undefined) logger[level](message)
    else logger[level](fields, message)
  }
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
}

/**
 * Formats one JSON log line of a replica for a terminal (what `cluster up` shows of its replicas' logs when its
 * stderr is one); a line that is not a JSON object is returned as it is.
 */
export function prettyLogLine(): (line: string) => string {
  const format = prettyFactory({ ...PRETTY_OPTIONS })
  return (line) => {
    if (!line.startsWith('{')) return line
    try {
      return format(JSON.parse(line) as object).replace(/\n$/, '')
    } catch {
      return line
    }
  }
}
