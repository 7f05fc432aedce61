import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { compile, formatDiagnostics } from '../src/index'
import { repoRoot } from './helpers'

/** The ```sm blocks of docs/dsl.md: every one is a whole spec and must compile without a diagnostic. */
const docs = readFileSync(join(repoRoot, 'docs', 'dsl.md'), 'utf8').replace(/\r\n/g, '\n')
const blocks = [...docs.matchAll(/^```sm\n([\s\S]*?)^```$/gm)].map((match) => match[1]!)

describe('the spec blocks of docs/dsl.md', () => {
  it('are there (the seed mutex and the lease)', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(2)
  })

  blocks.forEach((block, i) => {
    const name = /^\s*(?:--.*\n\s*)*([A-Za-z_][A-Za-z0-9_]*)\s*:/.exec(block)?.[1] ?? `block ${i + 1}`
    it(`${name} compiles without errors or warnings`, () => {
      const result = compile(block, { file: `docs-${name}.sm` })
      expect(formatDiagnostics(result.diagnostics, block)).toBe('')
      expect(result.machine).toBeDefined()
    })
  })

  it('show the lease machine the tests run', () => {
    const lease = blocks.find((block) => block.startsWith('lease:'))
    expect(lease).toBeDefined()
    expect(readFileSync(join(repoRoot, 'packages', 'dsl', 'test', 'fixtures', 'lease.sm'), 'utf8').endsWith(lease!)).toBe(true)
  })
})
