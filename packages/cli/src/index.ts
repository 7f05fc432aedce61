export { main, usage } from './main'
export { ExitCode, processIo } from './io'
export type { Io } from './io'
export { simCommand } from './commands/sim'
