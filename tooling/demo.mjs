// `npm run demo`: installs (npm run setup), builds the lock service and what it depends on, then runs its demo
// (apps/lock-service/dist/demo.js) with the arguments given after `--`. The install and build print one line;
// their output goes to .lockstep/demo-build.log, whose tail is shown only when a step fails.
import { spawn } from 'node:child_process'
import { createWriteStream, mkdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = dirname(dirname(fileURLToPath(import.meta.url)))
const logFile = join(root, '.lockstep', 'demo-build.log')
const shownLog = relative(process.cwd(), logFile) || logFile
const TAIL_LINES = 40

const steps = [
  { name: 'install (npm run setup)', command: 'npm', args: ['run', 'setup'] },
  { name: 'build', command: 'npx', args: ['-y', 'pnpm@10.34.9', 'exec', 'turbo', 'run', 'build', '--filter=@lockstep/lock-service...'] },
]

/** Runs `command args` in the repository root with its output appended to `log`; resolves with its exit code (128 + n for signal n). */
function runLogged(command, args, log) {
  return new Promise((resolve) => {
    log.write(`\n$ ${command} ${args.join(' ')}\n`)
    const child = spawn(command, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0' } })
    child.stdout.pipe(log, { end: false })
    child.stderr.pipe(log, { end: false })
    child.once('error', (error) => {
      log.write(`cannot start ${command}: ${error.message}\n`)
      resolve(127)
    })
    child.once('close', (code, signal) => resolve(code ?? 128 + signalNumber(signal)))
  })
}

function signalNumber(signal) {
  return { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 }[signal] ?? 1
}

function tail(file, lines) {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
  } catch (error) {
    return `(cannot read ${file}: ${error.message})`
  }
}

async function main() {
  let interrupted = false
  // Ctrl-C reaches the whole foreground process group: the steps and the demo stop themselves (the demo stops
  // its replicas first); this process only waits for them and then reports how they ended.
  const onInterrupt = () => void (interrupted = true)
  process.on('SIGINT', onInterrupt)

  mkdirSync(dirname(logFile), { recursive: true })
  const log = createWriteStream(logFile, { flags: 'w' })
  process.stdout.write(`building… (install and build output: ${shownLog})\n`)
  const startedAt = performance.now()
  for (const step of steps) {
    const code = await runLogged(step.command, step.args, log)
    if (code === 0) continue
    await new Promise((resolve) => log.end(resolve))
    if (interrupted) return 130
    process.stderr.write(`demo: the ${step.name} step failed (exit code ${code}); the last ${TAIL_LINES} lines of ${shownLog}:\n${tail(logFile, TAIL_LINES)}\n`)
    return 1
  }
  await new Promise((resolve) => log.end(resolve))
  process.stdout.write(`built in ${((performance.now() - startedAt) / 1000).toFixed(1)} s\n\n`)

  const demo = spawn(process.execPath, [join(root, 'apps', 'lock-service', 'dist', 'demo.js'), ...process.argv.slice(2)], { stdio: 'inherit' })
  // A SIGTERM sent to this process alone (not to the group) is passed on, so the demo still stops its replicas.
  process.once('SIGTERM', () => demo.kill('SIGTERM'))
  return new Promise((resolve) => {
    demo.once('error', (error) => {
      process.stderr.write(`demo: cannot start the demo: ${error.message}\n`)
      resolve(1)
    })
    demo.once('close', (code, signal) => resolve(code ?? 128 + signalNumber(signal)))
  })
}

process.exitCode = await main()
