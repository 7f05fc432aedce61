import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'

// `npm run demo` as users see it: the built demo (dist/demo.js; `turbo run test` builds it) run as a process with
// its output on a pipe. It starts three replica processes, kills one with SIGKILL midway, restarts it from its
// data directory, and must end with exit 0, having printed the kill, the rejoin, the acquire latency percentiles
// and a safety verdict that holds.
const DEMO = fileURLToPath(new URL('../dist/demo.js', import.meta.url))

let demo: ChildProcess | undefined

afterAll(() => {
  // Only after a failure: SIGTERM lets the demo stop its replicas and remove their directory.
  if (demo?.exitCode === null && demo.signalCode === null) demo.kill('SIGTERM')
})

function run(args: readonly string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  if (!existsSync(DEMO)) throw new Error(`${DEMO} is missing: build the lock service first (npx -y pnpm@10.34.9 exec turbo run build --filter=@lockstep/lock-service...)`)
  const child = spawn(process.execPath, [DEMO, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  demo = child
  let stdout = ''
  let stderr = ''
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  return new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })))
}

describe('the demo (npm run demo)', () => {
  it('survives a replica killed with SIGKILL and restarted from its disk: exit 0, the kill, the rejoin, p50/p99 and a verdict that holds', async () => {
    const { code, signal, stdout, stderr } = await run([])
    const output = `stdout:\n${stdout}\nstderr:\n${stderr}`
    expect({ code, signal }, output).toEqual({ code: 0, signal: null })
    // On a pipe: plain lines, no live status line.
    expect(stdout, output).not.toContain('\r')
    expect(stdout).toContain('file storage')
    const kill = stdout.search(/KILL: r3 \(pid \d+\) killed with SIGKILL after grant 100/)
    const restart = stdout.search(/r3 restarted \(pid \d+, was pid \d+\); it recovers its disk/)
    const rejoin = stdout.search(/REJOIN: r3 rejoined in view \d+ \(r1, r2, r3\) at position \d+/)
    const summary = stdout.indexOf('\nsummary\n')
    expect([kill, restart, rejoin, summary].every((index) => index >= 0), output).toBe(true)
    expect(kill < restart && restart < rejoin && rejoin < summary, output).toBe(true)
    expect(stdout).toMatch(/^ {2}throughput +\d+ grants\/s$/m)
    expect(stdout).toMatch(/^ {2}acquire latency +p50 \d+\.\d ms, p99 \d+\.\d ms/m)
    expect(stdout).toMatch(/^ {2}kill → next grant +\d+ ms/m)
    expect(stdout).toMatch(/^ {2}replicas agree +yes/m)
    expect(stdout).toContain('\nsafety verdict: HOLDS (no two holders at once, fencing tokens strictly increasing)\n')
    // The lease part that follows: a dead holder's lock passes on with a higher fencing token.
    expect(stdout).toMatch(/dead holder: its lease of 1000 ms ran out; the lock passed on \d+ ms after it died, fencing token (\d+) → (\d+)\n/)
    expect(stdout).toMatch(/^stopped 3 replica processes/m)
  }, 120_000)

  it('refuses an unknown option with its usage (exit 2) and starts nothing', async () => {
    const { code, stdout, stderr } = await run(['--order', 'sundial'])
    expect(code).toBe(2)
    expect(stderr).toContain('usage: demo [--order lamport|realtime] [--voter first|majority|byzantine]')
    expect(stdout).toBe('')
  })
})
