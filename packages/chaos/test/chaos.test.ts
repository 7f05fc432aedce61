import { execFileSync } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it, onTestFailed } from 'vitest'
import { NEMESES, UNAVAILABLE_NEMESES, formatResult, runChaos, type Order, type Workload } from '../src/index'

// Two short chaos runs on every `npm test`: real `lockstep replica` processes over TCP through fault-injecting
// proxies, every nemesis that exists, concurrent clients; a violation fails the test with the table and the
// command that replays the run.
const nemeses = NEMESES.filter((n) => UNAVAILABLE_NEMESES[n] === undefined)
const dirs: string[] = []
/** The folders of failed runs, kept to look at. */
const kept = new Set<string>()
// Removing the folders took more than the default 10 s once on a starved machine.
afterAll(async () => {
  for (const dir of dirs) if (!kept.has(dir)) await rm(dir, { recursive: true, force: true })
}, 120_000)

/** Whether an openssl binary is on the PATH (the run with TLS makes its certificates with it). */
function opensslAvailable(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/** Processes still running whose command line names `dir` (Linux: /proc). */
async function processesUnder(dir: string): Promise<string[]> {
  const found: string[] = []
  for (const pid of (await readdir('/proc')).filter((name) => /^\d+$/.test(name))) {
    const cmdline = await readFile(join('/proc', pid, 'cmdline'), 'utf8').catch(() => '')
    if (cmdline.includes(dir)) found.push(`${pid}: ${cmdline.replaceAll('\0', ' ')}`)
  }
  return found
}

describe('chaos: real processes under a nemesis', () => {
  // The fourth pipelines: each client keeps 4 requests in flight (4 loops sharing it, each its own process of the
  // history). The fifth orders by synchronized clocks (the replicas share this machine's clock). In the sixth, the
  // clients share one connection to each replica: a fault on one hits them all. In the last, every node proves
  // who it is with a certificate (mutual TLS; the run makes them with openssl, so it needs openssl on the PATH).
  const runs: [number, Workload[], number, number, Order, boolean, boolean][] = [
    [1, ['kv', 'register'], 3, 1, 'lamport', false, false],
    [2, ['lock', 'kv'], 3, 1, 'lamport', false, false],
    [3, ['kv'], 5, 1, 'lamport', false, false],
    [1, ['kv', 'register'], 3, 4, 'lamport', false, false],
    [4, ['kv', 'register'], 3, 1, 'realtime', false, false],
    [5, ['kv', 'lock'], 3, 2, 'lamport', true, false],
    [6, ['kv', 'lock'], 3, 2, 'lamport', false, true],
  ]
  for (const [seed, workloads, replicas, inFlight, order, sharedConnections, tls] of runs) {
    const pipelined = inFlight > 1 ? `, ${inFlight} requests in flight per client` : ''
    const ordering = `${order === 'lamport' ? '' : `, ${order} ordering`}${sharedConnections ? ', clients sharing one connection per replica' : ''}${tls ? ', mutual TLS' : ''}`
    it(`seed ${seed}: ${workloads.join(' and ')} on ${replicas} replicas for 20 s under ${nemeses.join(', ')}${replicas > 3 ? ' (two faults at once)' : ''}${pipelined}${ordering}: linearizable, exclusive, nothing acknowledged lost, equal digests, views settle; every process stopped`, async () => {
      // Without openssl the TLS run fails and says why: it is not left out.
      if (tls && !opensslAvailable()) throw new Error('no openssl binary on the PATH to make the certificates of the TLS run: install it (Debian: apt-get install -y openssl)')
      const dir = await mkdtemp(join(tmpdir(), 'lockstep-chaos-test-'))
      // The run's own log (faults, phases and how long each took), printed if the test fails, even by timing out;
      // the files of a failed run (each replica's log, result.json) are kept.
      const lines: string[] = []
      onTestFailed(() => {
        kept.add(dir)
        console.error(`chaos run, seed ${seed} (files kept in ${dir}):\n  ${lines.join('\n  ')}`)
      })
      dirs.push(dir)
      const log = (line: string) => lines.push(`${new Date().toISOString()} ${line}`)
      // A starved machine (the other tests run alongside) may do too little in 20 s for the run to prove anything:
      // the phases then go on until they have (up to 60 s), instead of failing the floors below.
      const result = await runChaos({ durationS: 20, nemeses, seed, workloads, replicas, inFlight, order, sharedConnections, tls, dir, log, atLeast: { operations: 101, faults: 4, maxDurationS: 60 } })
      expect(result.order).toBe(order)
      expect(result.sharedConnections).toBe(sharedConnections)
      expect(result.tls).toBe(tls)
      expect(await processesUnder(dir), 'processes of the run still running').toEqual([])
      expect(result.violations, formatResult(result)).toEqual([])
      expect(result.operations.ok).toBeGreaterThan(100)
      expect(result.workloads.map((w) => w.inFlight)).toEqual(workloads.map((w) => (w === 'lock' ? 1 : inFlight)))
      expect(Object.values(result.faults).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(4)
    }, 300_000)
  }
})

describe('chaos: a run that did too little goes on', () => {
  it('a phase short of its share of faults goes on, faults and traffic with it, until it has them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lockstep-chaos-test-'))
    dirs.push(dir)
    const lines: string[] = []
    onTestFailed(() => {
      kept.add(dir)
      console.error(`chaos run (files kept in ${dir}):\n  ${lines.join('\n  ')}`)
    })
    // 2 s cannot hold 4 pauses (each waits 0.3 to 1.5 s, then holds 0.8 s or more).
    const result = await runChaos({ durationS: 2, nemeses: ['pause'], seed: 3, workloads: ['kv'], dir, log: (line) => lines.push(line), atLeast: { faults: 4, maxDurationS: 60 } })
    expect(result.violations, formatResult(result)).toEqual([])
    expect(result.faults.pause).toBeGreaterThanOrEqual(4)
    expect(result.ranS).toBeGreaterThan(2)
    expect(result.extended).toBe(true)
    expect(formatResult(result)).toMatch(/^duration +2 s, ran [\d.]+ s \(a phase went on until it had done its share of the work asked for\)$/m)
    expect(lines.some((line) => line.includes('the phase went on past its 2 s until it had its share (0 ok, 4 faults)'))).toBe(true)
    expect(await processesUnder(dir), 'processes of the run still running').toEqual([])
  }, 300_000)

  it('refuses a floor that is not a whole number, or a longest duration below the duration, before starting anything', async () => {
    const base = { durationS: 10, nemeses: [], seed: 1, workloads: ['kv'] as const }
    await expect(runChaos({ ...base, atLeast: { faults: -1 } })).rejects.toThrow('atLeast.faults must be a whole number of at least 0, not -1')
    await expect(runChaos({ ...base, atLeast: { operations: 2.5 } })).rejects.toThrow('atLeast.operations must be a whole number of at least 0, not 2.5')
    await expect(runChaos({ ...base, atLeast: { maxDurationS: 5 } })).rejects.toThrow('atLeast.maxDurationS must be at least durationS (10), not 5')
    await expect(runChaos({ ...base, atLeast: { faults: 2 } })).rejects.toThrow('atLeast.faults is 2, but the run has no nemesis to inject them')
  })
})
