import { lockstepProject } from '../../tooling/vitest.shared.ts'

// Seed sweeps in virtual time: CPU-bound and deterministic, run two files at a time at a lower priority.
export default lockstepProject('conformance', {}, { background: true })
