import { lockstepProject } from '../../tooling/vitest.shared.ts'

export default lockstepProject('trace')
