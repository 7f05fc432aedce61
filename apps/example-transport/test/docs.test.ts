import { readFileSync, readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const appRoot = join(dirname(fileURLToPath(import.meta.url)), '..')
const repositoryRoot = join(appRoot, '..', '..')
const plugins = readFileSync(join(repositoryRoot, 'docs', 'plugins.md'), 'utf8')

/** The blocks of docs/plugins.md that name a file (```ts title="apps/…"), with their text. */
function titledBlocks(markdown: string): { title: string; text: string }[] {
  return [...markdown.matchAll(/^```\w* title="([^"]+)"\n([\s\S]*?)^```$/gm)].map((match) => ({ title: match[1]!, text: match[2]! }))
}

/** Every TypeScript file of the example, relative to the repository. */
function sourceFiles(): string[] {
  return ['src', 'test'].flatMap((folder) =>
    readdirSync(join(appRoot, folder))
      .filter((file) => file.endsWith('.ts'))
      .map((file) => join(folder, file)),
  )
}

describe('docs/plugins.md and the example plug-in', () => {
  it('shows the example\'s source files exactly as they are', () => {
    const blocks = titledBlocks(plugins)
    expect(blocks.map((block) => block.title)).toEqual(['apps/example-transport/src/counting-transport.ts', 'apps/example-transport/src/index.ts', 'apps/example-transport/test/compliance.test.ts'])
    for (const block of blocks) expect(block.text, `docs/plugins.md's ${block.title}`).toBe(readFileSync(join(repositoryRoot, block.title), 'utf8'))
  })

  it('imports Lockstep only by package name, through the packages\' exports', () => {
    for (const file of sourceFiles()) {
      const text = readFileSync(join(appRoot, file), 'utf8')
      for (const [, specifier] of text.matchAll(/\bfrom '([^']+)'/g)) {
        const allowed = specifier!.startsWith('node:') || specifier === 'vitest' || /^\.\.?\/(src\/)?[\w-]+$/.test(specifier!) || /^@lockstep\/[\w-]+(\/compliance)?$/.test(specifier!)
        expect(allowed, `${file} imports '${specifier}': only @lockstep/* package names (and the example's own files)`).toBe(true)
      }
    }
  })
})
