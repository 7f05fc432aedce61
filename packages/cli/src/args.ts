import { parseArgs, type ParseArgsConfig } from 'node:util'
import { ErrorCodes, LockstepError } from '@lockstep/interface'

/** Flags and positional arguments of one command. */
export interface ParsedFlags {
  readonly values: Record<string, string | string[] | boolean | undefined>
  readonly positionals: string[]
}

/** Parses a command's flags strictly; unknown flags and missing values are usage errors. */
export function parseFlags(command: string, args: string[], options: NonNullable<ParseArgsConfig['options']>): ParsedFlags {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: true }) as ParsedFlags
  } catch (error) {
    throw new LockstepError(ErrorCodes.INVALID_CONFIG, `lockstep ${command}: ${(error as Error).message}`)
  }
}

/** Reads a whole-number flag within bounds. */
export function intFlag(command: string, name: string, value: string | undefined, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback
  const parsed = Number(value)
  if (!Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
    throw new LockstepError(ErrorCodes.INVALID_CONFIG, `lockstep ${command}: --${name} must be a whole number from ${min} to ${max} (got '${value}')`)
  }
  return parsed
}
