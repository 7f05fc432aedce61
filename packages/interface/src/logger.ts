/** Structured logging. Components receive one by injection; the default discards. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void
  info(message: string, fields?: Record<string, unknown>): void
  warn(message: string, fields?: Record<string, unknown>): void
  error(message: string, fields?: Record<string, unknown>): void
}

const discard = () => {}

/** A logger that discards everything. */
export const silentLogger: Logger = { debug: discard, info: discard, warn: discard, error: discard }
