/**
 * Scenario tests of the replica engine, in the style of etcd raft's datadriven
 * interaction tests: every `test/scenarios/*.txt` is a story of commands
 * (`add-replicas 3`, `submit r1 c1 put x 1`, `crash r2`, `stabilize`, …) with the
 * output each block must print. The language is listed in `test/scenario/commands.ts`;
 * the harness checks the safety invariants after every command. Each scenario runs twice: as written, under
 * Lamport ordering, and under the real-time orderer against its transcript in `test/scenarios/realtime/`
 * (the same commands; generated, then reviewed).
 *
 * Regenerate every expected output (then review the diff before committing):
 *
 *     cd packages/core && LOCKSTEP_REWRITE=1 npx vitest run test/scenarios.test.ts
 */
import { readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { REWRITE_VARIABLE, runDerivedScenario, runScenarioFile } from './scenario/run-scenario'

const folder = join(dirname(fileURLToPath(import.meta.url)), 'scenarios')
const files = readdirSync(folder).filter((f) => f.endsWith('.txt')).sort()
const rewrite = process.env[REWRITE_VARIABLE] === '1'

describe('engine scenarios', () => {
  it('finds scenario files', () => {
    expect(files.length).toBeGreaterThan(0)
  })

  for (const file of files) {
    it(file.replace(/\.txt$/, ''), () => {
      const result = runScenarioFile(join(folder, file), `test/scenarios/${file}`, { rewrite })
      if (result.failure) throw new Error(result.failure)
    })
  }
})

describe('engine scenarios under the real-time orderer', () => {
  for (const file of files) {
    it(file.replace(/\.txt$/, ''), () => {
      const result = runDerivedScenario(join(folder, file), join(folder, 'realtime', file), `test/scenarios/realtime/${file}`, { rewrite, orderer: 'realtime' })
      if (result.failure) throw new Error(result.failure)
    })
  }
})
