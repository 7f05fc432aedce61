import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'


const names = ['chromium', 'chromium-browser']

function which(): string | undefined {
  for (const name of names) {
    const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' })
    if (found.status === 0 && found.stdout.trim() !== '') return found.stdout.trim()
  }
  return undefined
}

/**
 * The path of the system Chromium; when it is missing and we are root, installs Debian's `chromium` package
 * (`apt-get install -y chromium`, after `apt-get update` if the first try fails). Otherwise throws, saying why:
 * the browser tests fail rather than skip.
 */
export function findChromium(): string {
  const present = which()
  if (present) return present
  if (process.platform !== 'linux' || process.getuid?.() !== 0) throw new Error('the browser tests need Chromium: none on PATH, and installing it needs root on Linux (apt-get install -y chromium)')
  const install = () => spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'chromium'], { encoding: 'utf8', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, timeout: 480_000 })
  let result = install()
  if (result.status !== 0) {
    spawnSync('apt-get', ['update'], { encoding: 'utf8', timeout: 240_000 })
    result = install()
  }
  const installed = which()
  if (installed) return installed
  throw new Error(`the browser tests need Chromium: it is missing and 'apt-get install -y chromium' failed: ${(result.stderr || result.error?.message || '').trim().split('\n').slice(-2).join(' ')}`)
}

/** Every browser a test started and that has not exited: `stopAllChromium` ends them by pid. */
const running = new Set<ChildProcess>()

/**
 * Runs headless Chromium once on `url` with `args` (`--dump-dom`, `--screenshot=FILE`) and returns what it
 * printed. It gets a profile of its own (other runs may use theirs at the same time), and is killed by pid if it
 * has not finished within `timeoutMs`.
 */
export async function runChromium(chromium: string, url: string, args: readonly string[], timeoutMs = 60_000): Promise<string> {
  // Its temporary files too (the singleton socket's org.chromium.Chromium.* folder), so that they go with the profile.
  const profile = mkdtempSync(join(tmpdir(), 'lockstep-chromium-'))
  const child = spawn(chromium, ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--hide-scrollbars', `--user-data-dir=${profile}`, '--window-size=1400,900', ...args, url], { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: { ...process.env, TMPDIR: profile } })
  running.add(child)
  let out = ''
  let err = ''
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk))
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (err += chunk))
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      const timer = setTimeout(() => {
        stopChromium(child)
        reject(new Error(`chromium did not finish within ${timeoutMs} ms on ${url}`))
      }, timeoutMs)
      child.on('error', (error) => {
        clearTimeout(timer)
        reject(error)
      })
      child.on('exit', (exitCode) => {
        clearTimeout(timer)
        resolve(exitCode)
      })
    })
    if (code !== 0) throw new Error(`chromium exited with ${String(code)} on ${url}: ${err.trim().split('\n').slice(-3).join(' ')}`)
    return out
  } finally {
    running.delete(child)
    rmSync(profile, { recursive: true, force: true })
  }
}

/** Kills the browser's process group (its pid leads it: `detached`), so its helpers go with it. */
function stopChromium(child: ChildProcess): void {
  if (child.pid !== undefined && child.exitCode === null) {
    try {
      process.kill(-child.pid, 'SIGKILL')
    } catch {
      // It exited in the meantime.
    }
  }
}

/** Kills, by pid, every browser still running (afterAll, also after a failure). */
export function stopAllChromium(): void {
  for (const child of running) stopChromium(child)
  running.clear()
}
