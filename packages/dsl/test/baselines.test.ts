import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { compile, formatDiagnostics } from '../src/index'

/**
 * Baselines, TypeScript-compiler style: each bad program under test/cases has
 * its expected diagnostics under test/baselines. Run with
 * LOCKSTEP_ACCEPT_BASELINES=1 to (re)write them, then review the diff.
 */
const here = dirname(fileURLToPath(import.meta.url))
const casesDir = join(here, 'cases')
const baselinesDir = join(here, 'baselines')
const accept = process.env.LOCKSTEP_ACCEPT_BASELINES === '1'

function render(name: string, source: string): string {
  const { diagnostics } = compile(source, { file: name })
  const summary = `${diagnostics.filter((d) => d.severity === 'error').length} error(s), ${diagnostics.filter((d) => d.severity === 'warning').length} warning(s)`
  return `${formatDiagnostics(diagnostics, source)}\n-- ${summary}\n`
}

const cases = readdirSync(casesDir).filter((f) => f.endsWith('.sm')).sort()

describe('diagnostic baselines', () => {
  it('has at least 30 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(30)
  })

  for (const file of cases) {
    it(file, () => {
      const source = readFileSync(join(casesDir, file), 'utf8')
      const actual = render(file, source)
      const baseline = join(baselinesDir, file.replace(/\.sm$/, '.txt'))
      if (accept) writeFileSync(baseline, actual)
      expect(existsSync(baseline), `no baseline for ${file}: run with LOCKSTEP_ACCEPT_BASELINES=1 and review it`).toBe(true)
      expect(actual).toBe(readFileSync(baseline, 'utf8'))
      // Every case is a bad program: it must say so.
      expect(actual).toMatch(/: (error|warning): /)
    })
  }
})
