import { existsSync, readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { checkCommand } from '../src/commands/check'
import { memoryIo, specs } from './io'

/**
 * The `$ lockstep check …` examples of docs/dsl.md, run as written: every command of a code block is
 * followed by the output it must print (only the elapsed time and the rate may differ). Spec files are
 * looked up in apps/lock-service/specs, then in packages/dsl/test/fixtures.
 */
const repoRoot = join(specs, '..', '..', '..')
const fixtures = join(repoRoot, 'packages', 'dsl', 'test', 'fixtures')
const docs = readFileSync(join(repoRoot, 'docs', 'dsl.md'), 'utf8').replace(/\r\n/g, '\n')
/** The contents of every fenced code block, in order. */
function codeBlocks(text: string): string[] {
  const out: string[] = []
  let current: string[] | undefined
  for (const line of text.split('\n')) {
    if (line.startsWith('```')) {
      if (current === undefined) current = []
      else {
        out.push(current.join('\n'))
        current = undefined
      }
    } else current?.push(line)
  }
  return out
}
const blocks = codeBlocks(docs).filter((block) => block.startsWith('$ lockstep check '))
const examples = blocks.flatMap((block) => block.split(/^(?=\$ )/m).map((part) => {
  const [command, ...output] = part.replace(/\n+$/, '').split('\n')
  return { command: command!.slice(2), output: output.join('\n') }
}))

/** Splits a command line as a shell would, for double-quoted arguments. */
function words(line: string): string[] {
  return [...line.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]!)
}

const timing = (text: string): string => text.replace(/in [\d.]+ ms \(\d+ states\/s\)/g, 'in T ms (R states/s)')

describe('the lockstep check examples of docs/dsl.md', () => {
  it('are there (invariants, properties, aborts, symmetry, liveness)', () => {
    expect(examples.length).toBeGreaterThanOrEqual(6)
  })

  for (const example of examples) {
    it(example.command, async () => {
      const { io, stdout } = memoryIo()
      const resolve = (name: string): string => (existsSync(join(specs, name)) ? join(specs, name) : join(fixtures, name))
      const args = words(example.command).slice(2)
      const code = await checkCommand(args, { ...io, readFile: (path) => readFile(resolve(path), 'utf8'), readFileBytes: (path) => readFile(resolve(path)) })
      expect(timing(stdout())).toBe(timing(example.output))
      expect(code).toBe(example.output.includes('VIOLATION') ? 1 : 0)
    })
  }
})
