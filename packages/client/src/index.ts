export { LockstepClient } from './client'
export type { ClientObserver, ClientOptions, DissentCounts, DissentEvent, RequestOptions } from './client'
export { byzantine, first, majority } from '@lockstep/voting'
export type { VoterFactory } from '@lockstep/voting'
