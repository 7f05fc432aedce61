import { lockstepTsup } from '../../tooling/tsup.base'

// Two entries: the runtime (simulator, checkers, lincheck) and the vitest-bound compliance suites. Code they
// share goes to a common chunk, so the compliance entry reuses the runtime instead of carrying a second copy.
export default lockstepTsup({ entry: { index: 'src/index.ts', 'compliance/index': 'src/compliance/index.ts' }, splitting: true })
