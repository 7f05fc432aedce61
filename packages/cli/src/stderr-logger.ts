import { ErrorCodes, LockstepError, type Logger } from '@lockstep/interface'

/** Log levels, least severe first. */
export const logLevels = ['debug', 'info', 'warn', 'error'] as const

/** One of {@link logLevels}. */
export type LogLevel = (typeof logLevels)[number]

/** Checks a `--log-level` value. */
export function parseLogLevel(command: string, value: string | undefined, fallback: LogLevel): LogLevel {
  if (value === undefined) return fallback
  if ((logLevels as readonly string[]).includes(value)) return value as LogLevel
  throw new LockstepError(ErrorCodes.INVALID_CONFIG, `lockstep ${command}: --log-level must be one of ${logLevels.join(', ')} (got '${value}')`)
}

/**
 * A logger writing one line per entry, prefixed with the node's name so the
 * interleaved output of several replicas stays readable:
 * `r1 2026-11-25T22:10:36.123Z warn  message {"field":1}`.
 */
export function stderrLogger(name: string, write: (line: string) => void, level: LogLevel = 'info'): Logger {
  const threshold = logLevels.indexOf(level)
  const at = (entryLevel: LogLevel) => (message: string, fields?: Record<string, unknown>) => {
    if (logLevels.indexOf(entryLevel) < threshold) return
    const extra = fields === undefined || Object.keys(fields).length === 0 ? '' : ` ${safeJson(fields)}`
    write(`${name} ${new Date().toISOString()} ${entryLevel.padEnd(5)} ${message}${extra}`)
  }
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value)
  } catch {
    return '[unserializable fields]'
  }
}
