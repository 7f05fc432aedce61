export { LockstepClient } from './client'
export type { ClientObserver, ClientOptions, RequestOptions } from './client'
