#!/usr/bin/env node
// Messages/s of 100-byte messages over one link of @lockstep/transport-tcp,
// beside a plain node:net + msgpackr link measured in the same run (the
// practical ceiling: length-prefixed msgpack frames, one write per burst,
// nothing else). Runs against the built package:
//
//   (cd packages/interface && npx tsup) && (cd packages/transport-tcp && npx tsup) && node tooling/bench/transport-bench.mjs
//
// Options (environment): BENCH_MESSAGES (per run, default 200000), BENCH_RUNS (rounds, default 3; the median is
// reported). Scenarios alternate within each round, so load changes on a shared machine hit all of them alike.
// Both ends of every link live in this one process, so each figure includes
// the sender's and the receiver's work on one core. Not a test: nothing is asserted.
import { Buffer } from 'node:buffer'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import process from 'node:process'
import { setImmediate } from 'node:timers'
import { URL, pathToFileURL } from 'node:url'
import { realScheduler, silentLogger } from '../../packages/interface/dist/index.js'
import { tcp } from '../../packages/transport-tcp/dist/index.js'
import { machineInfo, report } from './table.mjs'

const require = createRequire(new URL('../../packages/transport-tcp/package.json', import.meta.url))
const { Packr, Unpackr } = await import(pathToFileURL(require.resolve('msgpackr')).href)

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 200_000)
const RUNS = Number(process.env.BENCH_RUNS ?? 3)
const BURST = 1000
const HOST = '127.0.0.1'
const SECRET = 'bench-cluster-secret-0123456789'

const packr = new Packr({ useRecords: false })
const unpackr = new Unpackr({ useRecords: false })

/** A typical small message, padded so its msgpack encoding is 100 bytes. */
function makeMessage(seq) {
  return { type: 'request', client: 'client-0001', seq, command: { op: 'acquire', key: 'lock-000042' }, pad: '' }
}
const padLength = 100 - packr.pack(makeMessage(100_000)).length
const message = (seq) => ({ ...makeMessage(seq), pad: 'x'.repeat(padLength) })
const MESSAGE_BYTES = packr.pack(message(100_000)).length

const yieldToLoop = () => new Promise((resolve) => setImmediate(resolve))

// --- @lockstep/transport-tcp ----------------------------------------------

async function transportRun({ echo, tls }) {
  const ids = ['r1', 'r2']
  const transports = ids.map((id) =>
    tcp({
      clusterId: 'bench',
      listen: { host: HOST, port: 0 },
      peers: ids.map((peer) => ({ id: peer, host: HOST, port: 0 })),
      auth: tls ? { tls: tls[id] } : { secret: SECRET },
      limits: { maxBufferedBytesPerPeer: 1024 * 1024 * 1024 },
    })({ self: id, scheduler: realScheduler(), log: silentLogger }),
  )
  const ports = await Promise.all(transports.map((t) => t.bind()))
  transports[0].setPeerAddress('r2', HOST, ports[1].port)
  const [r1, r2] = transports
  let done
  const finished = new Promise((resolve) => (done = resolve))
  let atR2 = 0
  let atR1 = 0
  await r2.start({
    onPeerMessage: (_from, m) => {
      atR2 += 1
      if (echo) r2.send('r1', m)
      else if (atR2 === MESSAGES) done()
    },
    onClientMessage: () => {},
  })
  await r1.start({
    onPeerMessage: () => {
      atR1 += 1
      if (atR1 === MESSAGES) done()
    },
    onClientMessage: () => {},
  })
  // Establish the link before timing.
  r1.send('r2', { warm: true })
  while (atR2 === 0) await yieldToLoop()
  atR2 = 0
  atR1 = 0
  const started = performance.now()
  for (let seq = 0; seq < MESSAGES; seq += 1) {
    r1.send('r2', message(seq))
    if ((seq + 1) % BURST === 0) await yieldToLoop()
  }
  await finished
  const elapsedMs = performance.now() - started
  await Promise.all(transports.map((t) => t.stop()))
  return elapsedMs
}

// --- plain node:net + msgpackr ---------------------------------------------

function frame(value) {
  const payload = packr.pack(value)
  const out = Buffer.allocUnsafe(4 + payload.length)
  out.writeUInt32BE(payload.length, 0)
  out.set(payload, 4)
  return out
}

/** Calls onValue for each length-prefixed msgpack value in the stream; returns the push function. */
function frameReader(onValue) {
  let pending = Buffer.alloc(0)
  return (chunk) => {
    const buffer = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
    let offset = 0
    while (buffer.length - offset >= 4) {
      const length = buffer.readUInt32BE(offset)
      if (buffer.length - offset - 4 < length) break
      onValue(unpackr.unpack(buffer.subarray(offset + 4, offset + 4 + length)))
      offset += 4 + length
    }
    pending = buffer.subarray(offset)
  }
}

async function plainRun({ echo }) {
  let received = 0
  let done
  const finished = new Promise((resolve) => (done = resolve))
  const server = createServer((socket) => {
    socket.setNoDelay(true)
    let out = []
    const read = frameReader((value) => {
      if (echo) out.push(frame(value))
      else if (++received === MESSAGES) done()
    })
    socket.on('data', (chunk) => {
      read(chunk)
      if (out.length > 0) {
        socket.write(Buffer.concat(out))
        out = []
      }
    })
  })
  await new Promise((resolve) => server.listen(0, HOST, resolve))
  const client = connect(server.address().port, HOST)
  client.setNoDelay(true)
  await new Promise((resolve) => client.once('connect', resolve))
  client.on('data', frameReader(() => {
    if (++received === MESSAGES) done()
  }))
  const started = performance.now()
  for (let seq = 0; seq < MESSAGES; seq += BURST) {
    const burst = []
    for (let i = seq; i < Math.min(seq + BURST, MESSAGES); i += 1) burst.push(frame(message(i)))
    if (!client.write(Buffer.concat(burst))) await new Promise((resolve) => client.once('drain', resolve))
    else await yieldToLoop()
  }
  await finished
  const elapsedMs = performance.now() - started
  client.destroy()
  await new Promise((resolve) => server.close(resolve))
  return elapsedMs
}

// --- certificates for the TLS rows (skipped without openssl) ----------------

function makeTlsCredentials() {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' })
  } catch {
    return undefined
  }
  const dir = mkdtempSync(join(tmpdir(), 'lockstep-bench-pki-'))
  const run = (args) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] })
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  run(['req', '-x509', ...ec, '-keyout', join(dir, 'ca.key'), '-out', join(dir, 'ca.crt'), '-days', '1', '-subj', '/CN=bench-ca'])
  writeFileSync(join(dir, 'leaf.ext'), 'basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n')
  const credentials = {}
  for (const [index, id] of ['r1', 'r2'].entries()) {
    run(['req', '-new', ...ec, '-keyout', join(dir, `${id}.key`), '-out', join(dir, `${id}.csr`), '-subj', `/CN=${id}/OU=replica`])
    run(['x509', '-req', '-in', join(dir, `${id}.csr`), '-CA', join(dir, 'ca.crt'), '-CAkey', join(dir, 'ca.key'), '-set_serial', String(index + 2), '-days', '1', '-extfile', join(dir, 'leaf.ext'), '-out', join(dir, `${id}.crt`)])
    credentials[id] = { ca: readFileSync(join(dir, 'ca.crt'), 'utf8'), cert: readFileSync(join(dir, `${id}.crt`), 'utf8'), key: readFileSync(join(dir, `${id}.key`), 'utf8') }
  }
  rmSync(dir, { recursive: true, force: true })
  return credentials
}

// --- run -------------------------------------------------------------------

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]

/** Runs every scenario once per round, round after round, so that a change in machine load hits all of them alike. */
async function measureAll(scenarios) {
  for (const [, runOnce] of scenarios) await runOnce() // warm-up
  const times = scenarios.map(() => [])
  for (let round = 0; round < RUNS; round += 1) {
    for (const [index, [, runOnce]] of scenarios.entries()) times[index].push(await runOnce())
  }
  return scenarios.map(([name], index) => {
    const ms = median(times[index])
    return { link: name, 'messages/s': Math.round((MESSAGES / ms) * 1000), 'MB/s': (MESSAGES * MESSAGE_BYTES) / ms / 1000, 'ms per run': ms }
  })
}

const tls = makeTlsCredentials()
const scenarios = [
  ['plain node:net + msgpackr, one way', () => plainRun({ echo: false })],
  ['transport-tcp (HMAC auth), one way', () => transportRun({ echo: false })],
  ...(tls ? [['transport-tcp (mutual TLS), one way', () => transportRun({ echo: false, tls })]] : []),
  ['plain node:net + msgpackr, echo', () => plainRun({ echo: true })],
  ['transport-tcp (HMAC auth), echo', () => transportRun({ echo: true })],
  ...(tls ? [['transport-tcp (mutual TLS), echo', () => transportRun({ echo: true, tls })]] : []),
]
const rows = await measureAll(scenarios)
const ceiling = (kind) => rows.find((r) => r.link === `plain node:net + msgpackr, ${kind}`)['messages/s']
for (const row of rows) row['% of plain'] = Math.round((row['messages/s'] / ceiling(row.link.endsWith('echo') ? 'echo' : 'one way')) * 100)
report(`transport: ${MESSAGES.toLocaleString('en-US')} messages of ${MESSAGE_BYTES} bytes over one link on 127.0.0.1 (median of ${RUNS})`, rows, {
  machine: await machineInfo(),
  messageBytes: MESSAGE_BYTES,
  messagesPerRun: MESSAGES,
  runs: RUNS,
  tls: tls !== undefined,
})
