import { execFile } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { arrivalOrderer, simulate, workloads } from '@lockstep/testkit'
import { renderTraceHtml, TraceRecorder, type Trace, type TraceEvent } from '@lockstep/trace'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { findChromium, runChromium, stopAllChromium } from './chromium'
import { cliBinPath, requireBuiltCli } from './processes'

// `lockstep sim --seed N --trace FILE.html|FILE.json`, as users run it (the built CLI), and the page it writes
// as a browser draws it: headless Chromium loads the file (offline, from disk), and the tests read its DOM.
// Screenshots go to packages/cli/test-output/ (git-ignored).

const outputDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'test-output')
let chromium: string

beforeAll(() => {
  requireBuiltCli()
  mkdirSync(outputDir, { recursive: true })
  chromium = findChromium()
}, 600_000)
afterAll(() => stopAllChromium())

async function lockstep(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [cliBinPath, ...args])
    return { code: 0, stdout, stderr }
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string }
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr }
  }
}

function ofType<T extends TraceEvent['type']>(trace: Trace, type: T): Extract<TraceEvent, { type: T }>[] {
  return trace.events.filter((event): event is Extract<TraceEvent, { type: T }> => event.type === type)
}

/** Every delivery the page drew: replica, position, request, classes, and the number written by it. */
function drawnDeliveries(dom: string): { replica: string; position: number; key: string; classes: string; label: number }[] {
  return [...dom.matchAll(/<g class="(delivery[^"]*)" data-index="\d+" data-replica="([^"]+)" data-position="(\d+)" data-key="([^"]+)">.*?<text class="position"[^>]*>(\d+)<\/text>/g)].map((m) => ({ classes: m[1]!, replica: m[2]!, position: Number(m[3]), key: m[4]!, label: Number(m[5]) }))
}

async function screenshot(browser: string, url: string, name: string): Promise<string> {
  const path = join(outputDir, name)
  rmSync(path, { force: true })
  await runChromium(browser, url, [`--screenshot=${path}`])
  const png = readFileSync(path)
  expect(png.subarray(1, 4).toString('latin1')).toBe('PNG')
  console.log(`sim-trace: screenshot ${path}`)
  return path
}

describe('lockstep sim --trace FILE', () => {
  it('--trace FILE.json writes the run\'s events in the documented format: messages, deliveries, views, faults, statuses, clients', async () => {
    const file = join(outputDir, 'trace-seed3-faults.json')
    const { code, stderr } = await lockstep(['sim', '--machine', 'kv', '--ops', '30', '--faults', 'crash,restart', '--seed', '3', '--trace', file])
    expect(code).toBe(0)
    expect(stderr).toContain(`trace of seed 3: ${file}`)
    const trace = JSON.parse(readFileSync(file, 'utf8')) as Trace
    expect(trace).toMatchObject({ version: 1, seed: 3, ok: true, replicas: ['r1', 'r2', 'r3'], clients: ['c1', 'c2', 'c3'], violations: [] })
    expect(trace.rerun).toBe('npx lockstep sim --machine kv --replicas 3 --order lamport --clients 3 --ops 30 --faults crash,restart --overlap --seed 3')
    const types = new Set(trace.events.map((event) => event.type))
    for (const type of ['send', 'receive', 'drop', 'deliver', 'view', 'fault', 'status', 'client-request', 'client-reply']) expect(types).toContain(type)
    const sent = new Set(ofType(trace, 'send').map((send) => send.id))
    for (const end of [...ofType(trace, 'receive'), ...ofType(trace, 'drop')]) expect(sent.has(end.id)).toBe(true)
    expect(ofType(trace, 'status').some((status) => status.status === 'down')).toBe(true)
    expect(ofType(trace, 'client-request')).toHaveLength(30)
  })

  it('refuses a trace file that is neither .html nor .json, and a trace without --seed (exit 2)', async () => {
    const wrong = await lockstep(['sim', '--machine', 'kv', '--seed', '1', '--trace', 'run.txt'])
    expect(wrong.code).toBe(2)
    expect(wrong.stderr).toMatch(/--trace run\.txt: a trace file ends in \.html \(a page\) or \.json/)
    const noSeed = await lockstep(['sim', '--machine', 'kv', '--trace=run.html'])
    expect(noSeed.code).toBe(2)
    expect(noSeed.stderr).toMatch(/--trace needs --seed/)
  })

  it('--trace FILE.html: in Chromium, one lane per replica and client, an arrow per message, every delivery numbered by its position', async () => {
    const html = join(outputDir, 'trace-seed5.html')
    const json = join(outputDir, 'trace-seed5.json')
    const args = ['sim', '--machine', 'kv', '--clients', '2', '--ops', '20', '--seed', '5']
    expect((await lockstep([...args, '--trace', html])).code).toBe(0)
    expect((await lockstep([...args, `--trace=${json}`])).code).toBe(0)
    const trace = JSON.parse(readFileSync(json, 'utf8')) as Trace
    const page = readFileSync(html, 'utf8')
    // Self-contained: nothing to fetch.
    expect(page).not.toMatch(/<script[^>]+src=|<link[^>]+href=|https?:\/\/(?!www\.w3\.org\/2000\/svg)/)
    const url = `${pathToFileURL(html).href}#select=r2:10`
    const dom = await runChromium(chromium, url, ['--dump-dom'])

    const lanes = [...dom.matchAll(/<g class="lane lane-(replica|client)" data-lane="([^"]+)"/g)].map((m) => `${m[1]}:${m[2]}`)
    expect(lanes).toEqual(['replica:r1', 'replica:r2', 'replica:r3', 'client:c1', 'client:c2'])
    const arrows = [...dom.matchAll(/<line class="msg [^"]*" data-id="(\d+)" data-from="([^"]+)" data-to="([^"]+)"/g)].map((m) => `${m[1]} ${m[2]}→${m[3]}`)
    expect(arrows.sort()).toEqual(ofType(trace, 'send').map((send) => `${send.id} ${send.from}→${send.to}`).sort())
    const deliveries = drawnDeliveries(dom)
    expect(deliveries.map((d) => `${d.replica} ${d.position} ${d.key}`).sort()).toEqual(ofType(trace, 'deliver').map((d) => `${d.replica} ${d.position} ${d.key}`).sort())
    for (const delivery of deliveries) expect(delivery.label).toBe(delivery.position)
    expect(deliveries.filter((d) => d.replica === 'r1').map((d) => d.position)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1))

    // The selected delivery (#select=r2:10) and the acknowledgements it waited for: one row per other member.
    const key = ofType(trace, 'deliver').find((d) => d.replica === 'r2' && d.position === 10)!.key
    expect(/<h2 id="selection">([^<]*)<\/h2>/.exec(dom)?.[1]).toMatch(new RegExp(`^r2 delivered ${key} at position 10, [\\d.]+ ms$`))
    const rows = [...dom.matchAll(/<tr class="wait[^"]*" data-member="([^"]+)"><td>[^<]*<\/td><td>(#\d+ v\d+ lamport c=\d+[^<]*)<\/td>/g)].map((m) => m[1])
    expect(rows).toEqual(['r1', 'r3'])
    expect(/<line class="msg [^"]* waited"/.test(dom)).toBe(true)
    await screenshot(chromium, url, 'trace-seed5.png')
  })

  it('the trace of a failing seed (an orderer that breaks agreement on purpose) highlights the violating deliveries', async () => {
    let trace: Trace | undefined
    for (let seed = 1; seed <= 50 && !trace; seed++) {
      const result = await simulate({ seed, workload: workloads.kv!, orderer: { name: 'broken', create: () => arrivalOrderer }, replicas: 3, clients: 4, ops: 40, record: new TraceRecorder() })
      if (!result.ok) trace = result.trace
    }
    expect(trace?.ok).toBe(false)
    const violation = trace!.violations.find((v) => v.message.startsWith('order:'))!
    const html = join(outputDir, 'trace-broken-order.html')
    await writeFile(html, renderTraceHtml(trace!))
    const url = `${pathToFileURL(html).href}#select=violation`
    const dom = await runChromium(chromium, url, ['--dump-dom'])
    expect(/<span class="failed" id="verdict">([^<]*)<\/span>/.exec(dom)?.[1]).toBe('FAILED')
    const violating = drawnDeliveries(dom).filter((d) => d.classes.split(' ').includes('violating'))
    expect(violating.map((d) => `${d.replica} ${d.position} ${d.key}`).sort()).toEqual(violation.deliveries.map((d) => `${d.replica} ${d.position} ${d.key}`).sort())
    // #select=violation selected the first of them, and the details say which violation it is part of.
    const selection = /<h2 id="selection">([^<]*)<\/h2><p class="violation-text">([^<]*)<\/p>/.exec(dom)
    expect(violation.deliveries.map((d) => `${d.replica} delivered ${d.key} at position ${d.position},`)).toContainEqual(selection?.[1]?.replace(/ [\d.]+ ms$/, ''))
    expect(selection?.[2]).toBe(`✖ ${violation.message}`)
    await screenshot(chromium, url, 'trace-broken-order.png')
  })
})

