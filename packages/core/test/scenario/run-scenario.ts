/**
 * Runs one scenario file: every block's commands against one fresh
 * {@link InteractionEnv}, the invariants checked after each command, the output
 * compared with (or, when rewriting, written over) the expected output.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { basename, dirname } from 'node:path'
import { runCommand } from './commands'
import { DataDrivenError, describeMismatches, parseBlocks, rewrite, runBlocks, type Block } from './datadriven'
import { InteractionEnv, type ScenarioOrderer } from './interaction-env'

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
export function runScenarioFile(path: string, name: string, options: { rewrite: boolean; orderer?: ScenarioOrderer }): ScenarioResult {
  const text = readFileSync(path, 'utf8')
  const blocks = parseBlocks(text, name)
  const env = new InteractionEnv(options.orderer)
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

/**
 * The transcript of a scenario under another orderer: the same commands as the source file (whose comments
 * tell the story under Lamport ordering), each block's expected output as that orderer prints it. Made from
 * the source with the comments left out and a header naming the source; its outputs are then rewritten.
 */
export function derivedTranscript(source: string, sourceName: string, orderer: ScenarioOrderer): string {
  const header = [
    `# Generated: the commands of ../${sourceName}, which tells the story (under Lamport ordering), run with`,
    `# the ${orderer} orderer. The harness checks the same invariants after every command. Regenerate with`,
    `# ${REWRITE_VARIABLE}=1 npx vitest run test/scenarios.test.ts (in packages/core) and review the diff.`,
  ]
  const body = parseBlocks(source, sourceName).map((block) => {
    const output = block.expected.split('\n')
    const framed = output.some((l) => l.trim() === '') ? ['----', '----', ...output, '----', '----'] : ['----', ...output]
    return [...block.commands.map((c) => c.text), ...framed].join('\n')
  })
  return `${[header.join('\n'), ...body].join('\n\n')}\n`
}

/** The commands of a transcript, in order: a derived transcript is current when its commands are its source's. */
function commandsOf(text: string, name: string): string {
  return parseBlocks(text, name)
    .map((block) => block.commands.map((c) => c.text).join('\n'))
    .join('\n----\n')
}

/**
 * Runs the scenario `sourcePath` under `orderer` against its transcript at `transcriptPath` (written there
 * when rewriting). Fails when the transcript is missing or its commands are no longer the source's.
 */
export function runDerivedScenario(sourcePath: string, transcriptPath: string, name: string, options: { rewrite: boolean; orderer: ScenarioOrderer }): ScenarioResult {
  const source = readFileSync(sourcePath, 'utf8')
  const sourceName = basename(sourcePath)
  const existing = existsSync(transcriptPath) ? readFileSync(transcriptPath, 'utf8') : undefined
  const current = existing !== undefined && commandsOf(existing, name) === commandsOf(source, sourceName)
  if (!options.rewrite && !current) {
    const why = existing === undefined ? 'has no transcript yet' : `has a transcript whose commands are not those of ${sourceName} any more`
    return { failure: `${name}: the scenario ${sourceName} ${why} under the ${options.orderer} orderer: regenerate with ${REWRITE_VARIABLE}=1 npx vitest run test/scenarios.test.ts (in packages/core), and review the diff.`, rewritten: false }
  }
  if (!current) {
    mkdirSync(dirname(transcriptPath), { recursive: true })
    writeFileSync(transcriptPath, derivedTranscript(source, sourceName, options.orderer))
  }
  return runScenarioFile(transcriptPath, name, options)
}
