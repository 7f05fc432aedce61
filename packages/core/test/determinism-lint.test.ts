import { describe, expect, it } from 'vitest'
import { ESLint } from 'eslint'
import { fileURLToPath } from 'node:url'
import { resolve } from 'node:path'
// @ts-expect-error: the lint config is plain JavaScript without type declarations
import { deterministicFiles } from '../../../eslint.config.js'

const root = resolve(fileURLToPath(import.meta.url), '../../../..')

async function lint(file: string, code: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: root })
  const [result] = await eslint.lintText(code, { filePath: resolve(root, file) })
  return result!.messages.map((m) => `${m.ruleId}: ${m.message}`)
}

const violations = [
  'export const t = Date.now()',
  'export const d = new Date()',
  'export const r = Math.random()',
  'setTimeout(() => {}, 1)',
  'setInterval(() => {}, 1)',
  'export const p = performance.now()',
  "import { readFileSync } from 'node:fs'\nexport const f = readFileSync",
  "import net from 'node:net'\nexport const n = net",
]

describe('the determinism lint rule', () => {
  // Every folder the rule covers (from eslint.config.js itself), plus nested folders such as the engine's view-change/.
  const folders = [...(deterministicFiles as string[]).map((glob) => glob.replace('**/*.ts', 'x.ts').replace('order-*', 'order-lamport')), 'packages/core/src/engine/view-change/x.ts']
  for (const folder of folders) {
    it(`fails ${folder} for every use of time, randomness, timers and I/O`, async () => {
      for (const code of violations) {
        const messages = await lint(folder, code)
        expect(messages.some((m) => /no-restricted-(globals|properties|imports)/.test(m)), `${folder}: ${code}`).toBe(true)
      }
    }, 60_000)
  }

  it('lets the host use timers and the clock', async () => {
    expect(await lint('packages/core/src/host/x.ts', 'export const t = Date.now()\nsetTimeout(() => {}, t)')).toEqual([])
  })
})
