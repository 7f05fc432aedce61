import { describe, expect, it } from 'vitest'
import { ESLint } from 'eslint'
import { fileURLToPath } from 'node:url'
import { readdirSync } from 'node:fs'
import { resolve } from 'node:path'
// @ts-expect-error: the lint config is plain JavaScript without type declarations
import { deterministicFiles } from '../../../eslint.config.js'

const root = resolve(fileURLToPath(import.meta.url), '../../../..')

/** A real source file of `folder` (relative to the root). */
function firstSource(folder: string): string {
  const file = readdirSync(resolve(root, folder)).find((name) => name.endsWith('.ts'))
  if (!file) throw new Error(`no .ts file in ${folder}`)
  return `${folder}/${file}`
}

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
  // Every folder the rule covers (from eslint.config.js itself), plus nested folders such as the engine's
  // view-change/. The code is linted as if it were a real file of the folder (type-aware rules need one).
  const folders = [...(deterministicFiles as string[]).map((glob) => firstSource(glob.replace('/**/*.ts', '').replace('order-*', 'order-lamport'))), firstSource('packages/core/src/engine/view-change')]
  for (const folder of folders) {
    it(`fails ${folder} for every use of time, randomness, timers and I/O`, async () => {
      for (const code of violations) {
        const messages = await lint(folder, code)
        expect(messages.some((m) => /no-restricted-(globals|properties|imports)/.test(m)), `${folder}: ${code}`).toBe(true)
      }
    }, 60_000)
  }

  it('lets the host use timers and the clock', async () => {
    expect(await lint('packages/core/src/host/durable-log.ts', 'export const t = Date.now()\nsetTimeout(() => {}, t)')).toEqual([])
  })
})

describe('the floating-promise rule', () => {
  it('fails a promise nobody handles, even one marked void, and passes one whose rejection is handled', async () => {
    const file = 'packages/core/src/host/replica-host.ts' // type-aware rules need a file of the project
    const floating = 'export async function write(): Promise<void> {}\nexport function f(): void {\n  void write()\n  write()\n}\n'
    const messages = await lint(file, floating)
    expect(messages.filter((m) => m.startsWith('@typescript-eslint/no-floating-promises'))).toHaveLength(2)
    const handled = 'export async function write(): Promise<void> {}\nexport function f(): void {\n  write().catch(() => {})\n}\n'
    expect((await lint(file, handled)).filter((m) => m.startsWith('@typescript-eslint/no-floating-promises'))).toEqual([])
  }, 60_000)
})
