export { LockstepClient } from './client'
export type { ClientObserver, ClientOptions } from './client'
