/**
 * Data-driven test files in the style of etcd's `datadriven` package:
 *
 *     # comment lines and blank lines between blocks
 *     command args…
 *     another-command args…
 *     ----
 *     expected output
 *     (up to a blank line)
 *
 * A block holds one or more command lines (a line ending in `\` continues on the next), run in order; its
 * output is compared with the expected text. Output that itself contains blank lines is written between
 * `----`/`----` and `----`/`----` separators, as etcd does. The runner can rewrite every expected output.
 */
import { unifiedDiff } from './unified-diff'

/** One command line of a block, with its 1-based line number in the file. */
export interface CommandText {
  readonly line: number
  readonly text: string
}

/** One block: its commands, its expected output, and where that output sits in the file. */
export interface Block {
  readonly line: number
  readonly commands: readonly CommandText[]
  readonly expected: string
  /** 0-based line range of the expected output (separators included), replaced on rewrite. */
  readonly outputStart: number
  readonly outputEnd: number
}

/** A malformed file, or a failure while running a block: the message starts with `file:line:`. */
export class DataDrivenError extends Error {
  override readonly name = 'DataDrivenError'
}

/** Parses a file into blocks; throws a {@link DataDrivenError} naming file:line for a malformed one. */
export function parseBlocks(text: string, file: string): Block[] {
  const lines = text.split('\n')
  const blocks: Block[] = []
  let i = 0
  while (i < lines.length) {
    const line = lines[i]!
    if (line.trim() === '' || line.startsWith('#')) {
      i++
      continue
    }
    const blockLine = i + 1
    const commands: CommandText[] = []
    while (i < lines.length && lines[i] !== '----') {
      const start = i
      let command = lines[i]!
      while (command.endsWith('\\') && i + 1 < lines.length) command = `${command.slice(0, -1).trimEnd()} ${lines[++i]!.trim()}`
      if (command.trim() === '') throw noSeparator(file, blockLine, commands)
      if (!command.startsWith('#')) commands.push({ line: start + 1, text: command.trim() })
      i++
    }
    if (i >= lines.length) throw noSeparator(file, blockLine, commands)
    const outputStart = i
    i++ // the separator
    const output: string[] = []
    if (lines[i] === '----') {
      // Output with blank lines: until a line '----' followed by '----'.
      i++
      while (i < lines.length && !(lines[i] === '----' && lines[i + 1] === '----')) output.push(lines[i++]!)
      if (i >= lines.length) throw new DataDrivenError(`${file}:${blockLine}: the block's output opened with '----' twice but is never closed by '----' twice`)
      i += 2
    } else {
      while (i < lines.length && lines[i]!.trim() !== '') output.push(lines[i++]!)
    }
    blocks.push({ line: blockLine, commands, expected: output.join('\n'), outputStart, outputEnd: i })
  }
  return blocks
}

function noSeparator(file: string, line: number, commands: readonly CommandText[]): DataDrivenError {
  const first = commands[0]?.text ?? ''
  return new DataDrivenError(`${file}:${line}: the block '${first}' has no '----' line after its commands (every block needs '----' and its expected output)`)
}

/** A block whose output differs from the expected one. */
export interface Mismatch {
  readonly block: Block
  readonly actual: string
}

/** Runs every block with `run` (which gets the block's commands and returns its output). */
export function runBlocks(blocks: readonly Block[], run: (block: Block) => string): Mismatch[] {
  const mismatches: Mismatch[] = []
  for (const block of blocks) {
    const actual = run(block)
    if (actual !== block.expected) mismatches.push({ block, actual })
  }
  return mismatches
}

/** The file with the given blocks' outputs replaced by their actual output. */
export function rewrite(text: string, mismatches: readonly Mismatch[]): string {
  const lines = text.split('\n')
  // Replace from the end, so earlier line ranges stay valid.
  for (const { block, actual } of [...mismatches].sort((a, b) => b.block.outputStart - a.block.outputStart)) {
    const output = actual.split('\n')
    const replacement = output.some((l) => l.trim() === '') ? ['----', '----', ...output, '----', '----'] : ['----', ...output]
    lines.splice(block.outputStart, block.outputEnd - block.outputStart, ...replacement)
  }
  return lines.join('\n')
}

/** A readable failure: the file and line of the first differing block, its commands and a unified diff. */
export function describeMismatches(file: string, mismatches: readonly Mismatch[], rewriteHint: string): string {
  const [first, ...rest] = mismatches
  if (!first) return ''
  const commands = first.block.commands.map((c) => `  ${c.text}`).join('\n')
  const more = rest.length > 0 ? `\n(and ${rest.length} later block${rest.length === 1 ? '' : 's'} differ too, at line${rest.length === 1 ? '' : 's'} ${rest.map((m) => m.block.line).join(', ')})` : ''
  return `${file}:${first.block.line}: the output differs from the expected output of\n${commands}\n${unifiedDiff(first.block.expected, first.actual)}${more}\n${rewriteHint}`
}
