/** Set to `skewable` in a replica process's environment: its parent may set its clock off over IPC (chaos tests only). */
export const TEST_CLOCK_VARIABLE = 'LOCKSTEP_TEST_CLOCK'

/**
 * True when `LOCKSTEP_TEST_CLOCK=skewable`: the replica runs on the simulator's `ReplicaClock` over the machine's
 * clock, whose offset its parent may set (set forward it jumps, set back it holds still until it catches up).
 */
export function testClockSkewable(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[TEST_CLOCK_VARIABLE] === 'skewable'
}
