import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest'
import { startLocalCluster, writeLocalClusterConfig, type LocalCluster } from '../src/local-cluster'
import type { LoadedClusterConfig } from '../src/cluster-config'
import { plainLogLine, requireBuiltCli, runCli, stopEverything, trackPid, untilReport, waitFor } from './processes'

// Issue 11, "disk damage is corruption, not a tail", with real `lockstep replica` processes over TCP and file
// storage: one bit flipped in the middle of the active WAL segment of stopped replicas, which are then restarted.

let dir: string
let cluster: LocalCluster | undefined
beforeAll(async () => {
  requireBuiltCli()
  dir = await mkdtemp(join(tmpdir(), 'lockstep-disk-damage-'))
})
afterAll(async () => {
  if (process.env.LOCKSTEP_DEBUG_LINES) await writeFile(process.env.LOCKSTEP_DEBUG_LINES, lines.join('\n'))
  await stopEverything([cluster], dir)
}, 60_000)

const SEGMENT_HEADER_BYTES = 20
const FRAME_HEADER_BYTES = 16

/**
 * Starts a 3-replica kv cluster with file storage (fsync per batch) in `dir/name`, forgetting earlier log lines;
 * returns it and its data directory.
 */
async function startFileCluster(name: string): Promise<{ started: LocalCluster; dataDir: string; config: LoadedClusterConfig }> {
  lines.length = 0
  const config = await writeLocalClusterConfig({ dir: join(dir, name), basePort: 0, machine: 'kv', extra: { storage: { type: 'file', dir: 'data', sync: 'batch' } } })
  return { started: await start(config), dataDir: join(dir, name, 'data'), config }
}

/** Every line the replica processes wrote to stderr. */
const lines: string[] = []

async function start(config: LoadedClusterConfig): Promise<LocalCluster> {
  const started = await startLocalCluster(config, { logLevel: 'info', onLog: (line) => lines.push(plainLogLine(line)) })
  for (const replica of started.replicas) trackPid(replica.pid)
  return started
}

async function kill(running: LocalCluster, ids: readonly string[]): Promise<void> {
  const victims = running.replicas.filter((r) => ids.includes(r.id))
  const exits = victims.map((r) => new Promise<void>((resolve) => (r.process.exitCode !== null || r.process.signalCode !== null ? resolve() : r.process.once('exit', () => resolve()))))
  for (const replica of victims) process.kill(replica.pid, 'SIGKILL')
  await Promise.all(exits)
}

/** Replica `id`'s active (newest) WAL segment: its path, its bytes and the offsets of its record frames. */
async function activeSegment(dataDir: string, id: string): Promise<{ file: string; bytes: Buffer; frames: number[] }> {
  const segments = (await readdir(join(dataDir, id))).filter((n) => /^wal-\d{16}\.log$/.test(n)).sort()
  const file = join(dataDir, id, segments.at(-1)!)
  const bytes = await readFile(file)
  const frames: number[] = []
  // Frames up to the zeros written ahead of the records (a frame's position, bytes 8 to 15, is never 0).
  const isFrame = (offset: number) => offset + FRAME_HEADER_BYTES <= bytes.length && bytes.subarray(offset + 8, offset + 16).some((b) => b !== 0)
  for (let offset = SEGMENT_HEADER_BYTES; isFrame(offset); offset += FRAME_HEADER_BYTES + bytes.readUInt32LE(offset + 4)) frames.push(offset)
  return { file, bytes, frames }
}

/**
 * Flips one bit in the middle of replica `id`'s active (newest) WAL segment. Returns the segment's path and the
 * offset of the record frame holding the flipped bit (where the damage must be reported), found by walking the
 * frames' length fields.
 */
async function flipBitMidSegment(dataDir: string, id: string): Promise<{ file: string; frameOffset: number; records: number }> {
  const { file, bytes, frames } = await activeSegment(dataDir, id)
  expect(frames.length, `records in ${file}`).toBeGreaterThan(20)
  const frameOffset = frames[Math.floor(frames.length / 2)]!
  bytes[frameOffset + FRAME_HEADER_BYTES + 2]! ^= 0x04
  await writeFile(file, bytes)
  return { file, frameOffset, records: frames.length }
}

/** Error-level lines of replica `id` saying it does not serve, naming `file` and `offset`. */
const damageReports = (id: string, file: string, offset: number) =>
  lines.filter((l) => l.startsWith(`${id} `) && / error /.test(l) && l.includes('does not serve') && l.includes(`${file} at byte ${offset}`))

async function writeKeys(running: LocalCluster, count: number, from = 0): Promise<string[]> {
  const client = await running.client(`writer-${from}`)
  const acknowledged: string[] = []
  for (let i = from; i < from + count; i++) {
    expect(await client.call({ name: 'put', args: { key: `k${i}`, value: `v${i}` } })).toEqual([{}])
    acknowledged.push(`k${i}`)
  }
  await client.stop()
  return acknowledged
}

describe('disk damage with real replica processes (storage "file", sync per batch)', () => {
  it('one of three damaged: the replica refuses its log, names the damage at error level, moves it aside and rejoins by state transfer; every acknowledged write reads back', async () => {
    const { started, dataDir } = await startFileCluster('one')
    cluster = started
    const acknowledged = await writeKeys(cluster, 60)
    await kill(cluster, ['r3'])
    const damage = await flipBitMidSegment(dataDir, 'r3')
    await cluster.restart('r3')
    await waitFor('r3 to report the damage at error level', () => damageReports('r3', damage.file, damage.frameOffset).length > 0, 30_000)
    // It never treated the damage as a torn tail.
    expect(lines.filter((l) => l.startsWith('r3 ') && l.includes('the log ends early'))).toEqual([])
    // Writes go on while it rejoins, and it takes the state by transfer.
    const later = await cluster.client('later')
    expect(await later.call({ name: 'put', args: { key: 'after', value: 'damage' } })).toEqual([{}])
    await later.stop()
    await waitFor('r3 to rejoin', () => lines.some((l) => l.startsWith('r3 ') && l.includes('rejoined after disk damage')), 120_000)
    const reader = await cluster.client('reader', { preferred: 'r3' })
    for (const key of [...acknowledged, 'after']) {
      expect(await reader.call({ name: 'get', args: { key } }), key).toEqual([{ value: key === 'after' ? 'damage' : key.replace('k', 'v') }])
    }
    await reader.stop()
    const statuses = await cluster.status()
    expect(new Set(statuses.map((s) => `${s.position}:${s.digest}`)).size, JSON.stringify(statuses)).toBe(1)
    // The damaged files were moved aside, never deleted; the marker went once the transferred state was on disk.
    const r3Files = await readdir(join(dataDir, 'r3'))
    expect(r3Files).toContain('damaged-1')
    expect(r3Files).not.toContain('DAMAGED')
    expect(await readdir(join(dataDir, 'r3', 'damaged-1'))).toContain(damage.file.split('/').at(-1))
    await cluster.stop()
    cluster = undefined
  }, 240_000)

  it('all three damaged: no replica serves, each keeps naming its damage (file, offset) at error level, and none starts empty', async () => {
    const { started, dataDir } = await startFileCluster('three')
    cluster = started
    await writeKeys(cluster, 60)
    const ids = ['r1', 'r2', 'r3']
    await kill(cluster, ids)
    const damages = new Map<string, { file: string; frameOffset: number }>()
    for (const id of ids) damages.set(id, await flipBitMidSegment(dataDir, id))
    const restartedAt = lines.length
    for (const id of ids) await cluster.restart(id)
    // Nothing is served from the damaged disks: the last acknowledged write is not read back as missing (the
    // records after the damage were never dropped as a torn tail), and a write is not taken either.
    const lost = await runCli(['client', '--cluster', cluster.configFile, '--timeout-ms', '10000', 'get', JSON.stringify({ key: 'k59' })])
    expect(lost.code, `a replica answered from a damaged disk: ${lost.stdout}`).not.toBe(0)
    const put = await runCli(['client', '--cluster', cluster.configFile, '--timeout-ms', '3000', 'put', JSON.stringify({ key: 'k1', value: 'overwritten' })])
    expect(put.code, put.stdout).not.toBe(0)
    // Each says so, and says it again (the process keeps running and keeps naming what stops it).
    for (const id of ids) {
      const { file, frameOffset } = damages.get(id)!
      await waitFor(`${id} to name its damage twice`, () => damageReports(id, file, frameOffset).length >= 2, 30_000)
    }
    // No replica started a new, empty cluster.
    const statuses = await cluster.status({ digest: false })
    // Each reports how far its damaged disk held the order, waiting for an intact one that holds as much.
    expect(statuses.map((s) => [s.id, s.state, s.position]).sort()).toEqual(ids.map((id) => [id, 'recovering', 0]))
    expect(lines.slice(restartedAt).filter((l) => l.includes('starts a new cluster in view'))).toEqual([])
    // And restarting them again does not turn the empty directories into fresh replicas.
    for (const id of ids) await cluster.restart(id)
    for (const id of ids) await waitFor(`${id} to name its damage after a second restart`, () => damageReports(id, damages.get(id)!.file, damages.get(id)!.frameOffset).length >= 4, 30_000)
    const again = await cluster.status({ digest: false })
    expect(again.map((s) => [s.state, s.position])).toEqual(ids.map(() => ['recovering', 0]))
    expect(lines.slice(restartedAt).filter((l) => l.includes('starts a new cluster in view'))).toEqual([])
    await cluster.stop()
    cluster = undefined
  }, 240_000)

  it('two of three damaged (all stopped): without the intact one the cluster stops and says what it needs; with it, the damaged replicas rejoin by state transfer and every acknowledged write reads back', async () => {
    const { started, dataDir } = await startFileCluster('two')
    cluster = started
    const acknowledged = await writeKeys(cluster, 60)
    const ids = ['r1', 'r2', 'r3']
    // The intact disk must hold every acknowledged write, or the cluster rightly refuses to resume from it. A write
    // is acknowledged once a majority's disks hold it: r1 may still lag by the last one. Found in CI (twice, the
    // second 2026-12-04): r1 recovered at position 59 while the damaged disks held 60, and the view change waited
    // for an intact disk that holds as much, as it should. So the kill waits until r1's log holds as many records
    // as the others' (a record written to the file survives SIGKILL).
    const records = async () => Promise.all(ids.map(async (id) => (await activeSegment(dataDir, id)).frames.length))
    const deadline = performance.now() + 30_000
    for (let counts = await records(); new Set(counts).size > 1; counts = await records()) {
      if (performance.now() > deadline) throw new Error(`gave up waiting (30000 ms guard) for r1 to log as much as r2 and r3: ${counts.join(', ')} records`)
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    await kill(cluster, ids)
    const damages = new Map<string, { file: string; frameOffset: number }>()
    for (const id of ['r2', 'r3']) damages.set(id, await flipBitMidSegment(dataDir, id))
    const restartedAt = lines.length
    onTestFailed(() => console.error(`the replicas' log since the restarts:\n  ${lines.slice(restartedAt).slice(-400).map((l) => l.slice(0, 400)).join('\n  ')}`))
    // The two damaged replicas come back first: a majority, but every copy of some request is damaged there.
    for (const id of ['r2', 'r3']) await cluster.restart(id)
    const lost = await runCli(['client', '--cluster', cluster.configFile, '--timeout-ms', '5000', 'get', JSON.stringify({ key: 'k59' })])
    expect(lost.code, `answered without the records after the damage: ${lost.stdout}`).not.toBe(0)
    for (const [id, { file, frameOffset }] of damages) await waitFor(`${id} to name its damage`, () => damageReports(id, file, frameOffset).length >= 1, 30_000)
    // They say how far their damaged disks held the order, and that the state must come from an intact disk.
    await waitFor('a damaged replica to say what it needs', () => lines.slice(restartedAt).some((l) => /^r[23] /.test(l) && /cannot finish a view change to view \d+: votes from r2, r3 of r1, r2, r3 .*damaged disks held the order up to position \d+ .*intact disk that holds as much; waiting for r1/.test(l)), 120_000)
    const waiting = await cluster.status({ digest: false })
    expect(waiting.filter((s) => s.id !== 'r1').map((s) => [s.id, s.state, s.position]).sort()).toEqual([
      ['r2', 'recovering', 0],
      ['r3', 'recovering', 0],
    ])
    // A supervisor restarts a damaged one again meanwhile: it still reads what is left of its disk (set aside).
    await kill(cluster, ['r2'])
    await cluster.restart('r2')
    // The intact replica comes back: the cluster resumes from its disk, and the damaged ones take its state.
    await cluster.restart('r1')
    for (const id of ['r2', 'r3']) await waitFor(`${id} to rejoin`, () => lines.slice(restartedAt).some((l) => l.startsWith(`${id} `) && l.includes('rejoined after disk damage')), 120_000)
    for (const id of ['r2', 'r3']) {
      const reader = await cluster.client(`reader-${id}`, { preferred: id })
      for (const key of acknowledged) expect(await reader.call({ name: 'get', args: { key } }), key).toEqual([{ value: key.replace('k', 'v') }])
      await reader.stop()
    }
    const writer = await cluster.client('after')
    expect(await writer.call({ name: 'put', args: { key: 'after', value: 'damage' } })).toEqual([{}])
    await writer.stop()
    let statuses = await cluster.status()
    for (let tries = 0; tries < 100 && new Set(statuses.map((s) => `${s.position}:${s.digest}`)).size !== 1; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      statuses = await cluster.status()
    }
    expect(new Set(statuses.map((s) => `${s.position}:${s.digest}`)).size, JSON.stringify(statuses)).toBe(1)
    expect(lines.slice(restartedAt).filter((l) => l.includes('starts a new cluster in view'))).toEqual([])
    await cluster.stop()
    cluster = undefined
  }, 480_000)
})

describe('a disk that loses what it synced (storage "file", sync per batch)', () => {
  it('a replica restarted from a disk whose last synced records became zeros: a peer says so at error level, naming it and the positions; it rejoins and every acknowledged write reads back', async () => {
    const { started, dataDir, config } = await startFileCluster('lost-tail')
    cluster = started
    const acknowledged = await writeKeys(cluster, 30)
    // With r2 down, every write is acknowledged only once r3 reported that its disk holds it: r1 then knows that r3's
    // disk held all of them.
    await kill(cluster, ['r2'])
    acknowledged.push(...(await writeKeys(cluster, 30, 30)))
    await cluster.restart('r2')
    await untilReport(config, 'r2', 'to rejoin and serve', (report) => report.status === 'normal' && report.view.members.includes('r2'))
    await kill(cluster, ['r3'])
    // r3's disk loses its last 15 records (the last writes among them) as a disk that acknowledged an fsync without
    // keeping the data does: zeros where they were, which recovery reads as the end of the log (no damage to see).
    const { file, bytes, frames } = await activeSegment(dataDir, 'r3')
    expect(frames.length, `records in ${file}`).toBeGreaterThan(40)
    const from = frames.at(-15)!
    const end = frames.at(-1)! + FRAME_HEADER_BYTES + bytes.readUInt32LE(frames.at(-1)! + 4)
    bytes.fill(0, from, end)
    await writeFile(file, bytes)
    const restartedAt = lines.length
    onTestFailed(() => console.error(`the replicas' log since r3's restart:\n  ${lines.slice(restartedAt).slice(-200).map((l) => l.slice(0, 400)).join('\n  ')}`))
    await cluster.restart('r3')
    const said = (l: string) => l.startsWith('r1 ') && / error /.test(l) && /replica 'r3' reports that its disk holds the order up to position \d+, but it had reported that its disk held \d+, which a majority's disks held: its storage lost position/.test(l)
    await waitFor('r1 to say at error level that the disk of r3 lost what it had synced', () => lines.slice(restartedAt).some(said), 30_000)
    // And counts it, by peer, for an alert.
    const metrics = await (await fetch(`http://127.0.0.1:${config.replicas.find((r) => r.id === 'r1')!.metricsPort!}/metrics`)).text()
    expect(metrics).toMatch(/^lockstep_peer_disk_losses_total\{peer="r3",replica="r1"\} 1$/m)
    // It never saw damage: the zeros read as the end of its log.
    expect(lines.slice(restartedAt).filter((l) => l.startsWith('r3 ') && (l.includes('damaged') || l.includes('the log ends early')))).toEqual([])
    await untilReport(config, 'r3', 'to rejoin and serve', (report) => report.status === 'normal' && report.view.members.includes('r3'))
    const reader = await cluster.client('reader', { preferred: 'r3' })
    for (const key of acknowledged) expect(await reader.call({ name: 'get', args: { key } }), key).toEqual([{ value: key.replace('k', 'v') }])
    await reader.stop()
    await cluster.stop()
    cluster = undefined
  }, 240_000)
})

describe('a replica whose disk cannot be opened', () => {
  it('exits (code 2: the storage directory is unusable) naming the problem instead of staying up with its port open', async () => {
    const config = await writeLocalClusterConfig({ dir: join(dir, 'unopenable'), basePort: 0, machine: 'kv', extra: { storage: { type: 'file', dir: 'data', sync: 'batch' } } })
    // Its data directory is a file: the storage cannot be opened.
    await mkdir(join(dir, 'unopenable', 'data'), { recursive: true })
    await writeFile(join(dir, 'unopenable', 'data', 'r1'), 'not a directory')
    const run = await runCli(['replica', '--config', config.file, '--id', 'r1'])
    expect(run.code, run.stderr).toBe(2)
    expect(run.stderr).toContain(join(dir, 'unopenable', 'data', 'r1'))
  }, 60_000)
})
