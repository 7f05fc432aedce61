import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

// `npm run mutants` (tooling/mutants.mjs) takes each fix of tooling/mutants.json out again and runs the tests that
// must then fail. It takes minutes, so it is not part of `npm test`; this checks that the registry still fits the
// code: each fix's code is found exactly once where it says, and each test file it names exists.
const root = fileURLToPath(new URL('../../..', import.meta.url))
const { mutants } = JSON.parse(readFileSync(join(root, 'tooling', 'mutants.json'), 'utf8')) as {
  mutants: { id: string; file: string; find: string; replace: string; also?: { file: string; find: string; replace: string }[]; caughtBy: { package: string; test: string; name: string }[] }[]
}

describe('the registry of fixes taken out by npm run mutants', () => {
  it('lists fixes', () => {
    expect(mutants.length).toBeGreaterThan(0)
  })
  for (const mutant of mutants) {
    it(`${mutant.id}: its code is found once in ${mutant.file}, and its tests exist`, () => {
      for (const edit of [mutant, ...(mutant.also ?? [])]) {
        expect(readFileSync(join(root, edit.file), 'utf8').split(edit.find).length - 1, `${edit.file}: ${edit.find}`).toBe(1)
        expect(edit.replace).not.toBe(edit.find)
      }
      for (const test of mutant.caughtBy) {
        const source = readFileSync(join(root, test.package, test.test), 'utf8')
        expect(source.length, `${test.package}/${test.test}`).toBeGreaterThan(0)
      }
    })
  }
})
