/**
 * Runs one scenario file: every block's commands against one fresh
 * {@link InteractionEnv}, the invariants checked after each command, the output
 * compared with (or, when rewriting, written over) the expected output.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { runCommand } from './commands'
import { DataDrivenError, describeMismatches, parseBlocks, rewrite, runBlocks, type Block } from './datadriven'
import { InteractionEnv } from './interaction-env'

/** The environment variable that makes the runner rewrite expected outputs instead of comparing them. */
export const REWRITE_VARIABLE = 'LOCKSTEP_REWRITE'

/** The outcome of a scenario file: a failure message, or none. */
export interface ScenarioResult {
  /** Set when an expected output differs (not in rewrite mode). */
  readonly failure: string | undefined
  /** True if the file was rewritten. */
  readonly rewritten: boolean
}

/**
 * Runs `path` (shown as `name` in messages). Unknown commands, bad arguments, engine exceptions and
 * invariant violations throw a {@link DataDrivenError} naming file:line, in rewrite mode too.
 */
export function runScenarioFile(path: string, name: string, options: { rewrite: boolean }): ScenarioResult {
  const text = readFileSync(path, 'utf8')
  const blocks = parseBlocks(text, name)
  const env = new InteractionEnv()
  const mismatches = runBlocks(blocks, (block) => runBlock(env, block, name))
  if (options.rewrite) {
    if (mismatches.length > 0) writeFileSync(path, rewrite(text, mismatches))
    return { failure: undefined, rewritten: mismatches.length > 0 }
  }
  const hint = `If the new output is right, regenerate the expected outputs: ${REWRITE_VARIABLE}=1 npx vitest run test/scenarios.test.ts (in packages/core), and review the diff.`
  return { failure: mismatches.length > 0 ? describeMismatches(name, mismatches, hint) : undefined, rewritten: false }
}

/** Runs a block's commands; its output is theirs, joined, or `ok` when they print nothing. */
export function runBlock(env: InteractionEnv, block: Block, file: string): string {
  const output: string[] = []
  for (const command of block.commands) {
    let lines: string[]
    try {
      lines = runCommand(env, command.text)
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error)
      throw new DataDrivenError(`${file}:${command.line}: ${command.text}\n${message}`, { cause: error })
    }
    output.push(...lines)
    const violations = env.endStep()
    if (violations.length === 0) continue
    if (env.recordViolations) {
      output.push(...violations.map((v) => `INVARIANT VIOLATED: ${v.message}`))
      continue
    }
    throw new DataDrivenError(
      `${file}:${command.line}: invariant violated after '${command.text}' (t=${env.time} ms):\n${violations.map((v) => `  - ${v.message}`).join('\n')}\n` +
        `output of the command so far:\n${output.map((l) => `  ${l}`).join('\n')}`,
    )
  }
  return output.length === 0 ? 'ok' : output.join('\n')
}
