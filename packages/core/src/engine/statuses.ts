import type { EngineStatus } from './engine-types'

/** The status changes the engine makes; any other is a bug (the engine throws `INTERNAL`). */
const transitions: Readonly<Record<EngineStatus, readonly EngineStatus[]>> = {
  normal: ['normal', 'frozen', 'transferring', 'joining', 'recovering'],
  frozen: ['normal', 'transferring', 'joining'],
  transferring: ['normal', 'transferring', 'joining'],
  joining: ['normal', 'transferring', 'joining', 'recovering'],
  recovering: ['normal', 'transferring', 'joining'],
}

/** True if the engine may go from status `from` to status `to`. */
export function canTransition(from: EngineStatus, to: EngineStatus): boolean {
  return transitions[from].includes(to)
}
