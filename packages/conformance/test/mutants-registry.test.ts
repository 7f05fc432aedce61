import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { edits, loadEquivalents, loadRegistry, occurrences } from '../../../tooling/mutants.mjs'

// `npm run mutants` (tooling/mutants.mjs) takes each fix of tooling/mutants.json out again and runs the tests that
// must then fail. It takes minutes, so it is not part of `npm test`; this checks that the registry still fits the
// code: it loads as the tool loads it, each fix's code is found exactly once where it says, and each test file it
// names exists.
const root = fileURLToPath(new URL('../../..', import.meta.url))
const mutants = loadRegistry()

describe('the registry of fixes taken out by npm run mutants', () => {
  it('lists fixes', () => {
    expect(mutants.length).toBeGreaterThan(0)
  })
  for (const mutant of mutants) {
    it(`${mutant.id}: its code is found once in ${mutant.file}, and its tests exist`, () => {
      for (const edit of edits(mutant)) {
        expect(occurrences(edit), `${edit.file}: ${edit.find}`).toBe(1)
        expect(edit.replace).not.toBe(edit.find)
      }
      for (const test of mutant.caughtBy) expect(existsSync(join(root, test.package, test.test)), `${test.package}/${test.test}`).toBe(true)
    })
  }
  // Fixes no test can tell from their absence (defence in depth), each with why: their code must still be where the
  // registry says, or the reasoning is about code that changed.
  for (const known of loadEquivalents()) {
    it(`known equivalent: ${known.fix}: its code is found once in ${known.file}, and the registry says why`, () => {
      expect(occurrences(known), `${known.file}: ${known.find}`).toBe(1)
      expect(known.why.length).toBeGreaterThan(20)
    })
  }
})
