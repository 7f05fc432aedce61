import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { codeBlocks, documents, killRunningBlocks, repoRoot, runBlock, runElsewhere, slug, toModule, type Run } from './docs-examples'

/**
 * Every ```ts/```js/```sh block of the READMEs and of docs/*.md either runs here, as written, in a node process of
 * its own that must exit by itself with code 0, or says why not in a `<!-- not-run: reason -->` comment on the line
 * before its fence (a fragment, an interface listing, a command that needs a terminal or other hosts). Shell blocks
 * always need the comment. The root README's service example also runs with one of its three replicas stopped
 * after its first answer: it must still answer, and still exit by itself.
 */
const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..')
const scratch = mkdtempSync(join(packageDir, '.docs-examples-'))
afterAll(() => {
  killRunningBlocks()
  rmSync(scratch, { recursive: true, force: true })
})

/** Only a safety net: an example that has not exited after this long never will (its timers or sockets are open). */
const SAFETY_LIMIT_MS = 45_000

const blocks = documents().flatMap((file) => codeBlocks(file))

function explain(run: Run): string {
  const how = run.hung ? `did not exit by itself within ${SAFETY_LIMIT_MS / 1000} s (a timer, socket or process is still open: stop the hosts, clients and clusters at the end of the example)` : `exited with code ${run.exitCode} (signal ${run.signal})`
  return `${how}\n--- stdout\n${run.stdout.slice(-2000)}\n--- stderr\n${run.stderr.slice(-4000)}`
}

describe('the examples of the READMEs and docs', () => {
  it('are found (every README and docs/*.md but getting-started.md)', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(40)
    expect(blocks.some((b) => b.file === 'README.md' && b.kind === 'script')).toBe(true)
    expect(blocks.some((b) => b.file === 'docs/getting-started.md')).toBe(false)
  })

  it('either run or say why not: shell blocks and blocks run elsewhere need no run here, every not-run gives a reason', () => {
    for (const block of blocks) {
      if (block.notRun !== undefined) expect(block.notRun.length, `${block.where}: <!-- not-run: … --> needs a reason`).toBeGreaterThanOrEqual(8)
      if (block.kind === 'shell') expect(block.notRun, `${block.where}: a shell block needs <!-- not-run: reason --> before its fence`).toBeDefined()
    }
    for (const test of Object.values(runElsewhere)) expect(existsSync(join(repoRoot, test)), test).toBe(true)
  })

  const runnable = blocks.filter((b) => b.kind === 'script' && b.notRun === undefined && runElsewhere[b.file] === undefined)
  for (const block of runnable) {
    it(`${block.where} runs and exits by itself with code 0`, async () => {
      const run = await runBlock(scratch, slug(block), toModule(block.code, block.where), SAFETY_LIMIT_MS)
      expect(run.exitCode, `${block.where} ${explain(run)}`).toBe(0)
    })
  }
})

describe("the root README's replicated service", () => {
  const service = blocks.find((b) => b.file === 'README.md' && b.kind === 'script' && b.code.includes('new ReplicaHost'))

  it('keeps answering when one of its three replicas stops after the first answer, and exits by itself', async () => {
    expect(service, 'README.md has a ```ts block that builds ReplicaHosts').toBeDefined()
    const lines = service!.code.split('\n')
    const firstCall = lines.findIndex((line) => /^await client\.call\(/.test(line))
    expect(firstCall, 'the example awaits client.call(…) at the top level').toBeGreaterThanOrEqual(0)
    // r1 is the client's preferred replica: the next call must fail over to another one and wait for the view change.
    lines.splice(firstCall + 1, 0, "await hosts[0].stop(); console.log('[docs-examples] stopped r1')")
    const run = await runBlock(scratch, 'readme-service-stop-r1', toModule(lines.join('\n'), service!.where), SAFETY_LIMIT_MS)
    expect(run.stdout, explain(run)).toContain('[docs-examples] stopped r1')
    expect(run.stdout, explain(run)).toContain("{ value: 'hello' }")
    expect(run.exitCode, explain(run)).toBe(0)
  })
})
