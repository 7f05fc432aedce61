import { lockstepProject } from '../../tooling/vitest.shared'

export default lockstepProject('client')
