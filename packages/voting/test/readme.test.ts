import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'

/**
 * The README's ```ts blocks run as written (imports of '@lockstep/voting' resolve to the sources). A line ending in
 * `// → x` checks its value: equal to x for a primitive, containing x for an object (toMatchObject). A line ending
 * in `// throws CODE` checks that it throws a LockstepError with that code. `const name = expr // → x` checks name.
 */
const readme = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', 'README.md'), 'utf8').replace(/\r\n/g, '\n')
const blocks = [...readme.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((match) => ({ code: match[1]!, line: readme.slice(0, match.index).split('\n').length + 1 }))

const scratch = mkdtempSync(join(tmpdir(), 'lockstep-voting-readme-'))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))

interface Checks {
  value(actual: unknown, expected: unknown, where: string): void
  throws(run: () => unknown, code: string, where: string): void
  count: number
}

const checks: Checks = {
  count: 0,
  value(actual, expected, where) {
    checks.count++
    if (typeof expected === 'object' && expected !== null) expect(actual, where).toMatchObject(expected)
    else expect(actual, where).toEqual(expected)
  },
  throws(run, code, where) {
    checks.count++
    expect(run, where).toThrow(expect.objectContaining({ name: 'LockstepError', code }))
  },
}
;(globalThis as { __readmeChecks?: Checks }).__readmeChecks = checks

/** The block as a module, with each annotated line turned into a check. */
function instrument(code: string, firstLine: number): string {
  return code.split('\n').map((text, i) => {
    const where = `README.md:${firstLine + i}`
    const thrown = /^(\s*)(.*?)\s*\/\/ throws ([A-Z_]+)\s*$/.exec(text)
    if (thrown) return `${thrown[1]}__readmeChecks.throws(() => (${thrown[2]}), '${thrown[3]}', '${where}')`
    const valued = /^(\s*)(.*?)\s*\/\/ → (.*)$/.exec(text)
    if (!valued) return text
    const [, indent, statement, expected] = valued as unknown as [string, string, string, string]
    const declaration = /^(const|let) ([A-Za-z_$][\w$]*) = (.*)$/.exec(statement)
    if (declaration) return `${indent}${statement}; __readmeChecks.value(${declaration[2]}, (${expected}), '${where}')`
    return `${indent}__readmeChecks.value((${statement}), (${expected}), '${where}')`
  }).join('\n')
}

describe('the README examples', () => {
  it('are there', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(5)
  })

  blocks.forEach(({ code, line }) => {
    it(`the block at README.md:${line} runs and its annotated lines hold`, async () => {
      const file = join(scratch, `block-${line}.ts`)
      writeFileSync(file, `declare const __readmeChecks: any\n${instrument(code, line)}\nexport {}\n`)
      const before = checks.count
      await import(pathToFileURL(file).href)
      expect(checks.count - before, 'annotated lines checked').toBe(code.split('\n').filter((text) => /\/\/ (→|throws) /.test(text)).length)
    })
  })
})
