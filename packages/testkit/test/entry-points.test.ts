import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import * as compliance from '@lockstep/testkit/compliance'
import * as runtime from '@lockstep/testkit'
import { ordererCompliance } from '../src/compliance/index'

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..')

/** Every module specifier imported (statically or dynamically) or re-exported by a source text. */
function specifiers(source: string): string[] {
  const found: string[] = []
  for (const match of source.matchAll(/(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|(?:^|[\s;])import\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm)) {
    found.push((match[1] ?? match[2] ?? match[3])!)
  }
  return found
}

/** The bare (package) imports reachable from `entry` through relative imports, with the file that makes each. */
function packageImports(entry: string, resolveRelative: (from: string, specifier: string) => string): Map<string, string> {
  const seen = new Set<string>()
  const external = new Map<string, string>()
  const queue = [entry]
  while (queue.length > 0) {
    const file = queue.pop()!
    if (seen.has(file)) continue
    seen.add(file)
    for (const specifier of specifiers(readFileSync(file, 'utf8'))) {
      if (specifier.startsWith('.')) queue.push(resolveRelative(file, specifier))
      else if (!external.has(specifier)) external.set(specifier, file)
    }
  }
  return external
}

const sourceFile = (from: string, specifier: string) => {
  const base = resolve(dirname(from), specifier)
  return [`${base}.ts`, join(base, 'index.ts')].find((candidate) => existsSync(candidate)) ?? base
}

describe('entry points', () => {
  it('the root entry never reaches vitest, in the sources', () => {
    const imports = packageImports(join(packageDir, 'src', 'index.ts'), sourceFile)
    expect([...imports.keys()].filter((name) => name === 'vitest' || name.startsWith('vitest/'))).toEqual([])
  })

  it('the root entry never reaches vitest, in the build (when built)', () => {
    const built = join(packageDir, 'dist', 'index.js')
    if (!existsSync(built)) return
    const imports = packageImports(built, (from, specifier) => resolve(dirname(from), specifier))
    expect([...imports.keys()].filter((name) => name === 'vitest' || name.startsWith('vitest/'))).toEqual([])
  })

  it('the compliance suites sit behind @lockstep/testkit/compliance, and only there', () => {
    expect(compliance.ordererCompliance).toBe(ordererCompliance)
    expect(typeof compliance.transportCompliance).toBe('function')
    expect(Object.keys(runtime)).not.toContain('ordererCompliance')
    expect(Object.keys(runtime)).not.toContain('transportCompliance')
    expect(typeof runtime.simulate).toBe('function')
  })

  it('package.json exports each entry with its types first', () => {
    const manifest = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as { exports: Record<string, Record<string, string>> }
    expect(Object.keys(manifest.exports)).toEqual(['.', './compliance'])
    for (const conditions of Object.values(manifest.exports)) expect(Object.keys(conditions)[0]).toBe('types')
  })
})
