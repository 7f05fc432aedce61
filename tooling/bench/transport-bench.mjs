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
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import process from 'node:process'
import { realScheduler, silentLogger } from '../../packages/interface/dist/index.js'
import { tcp } from '../../packages/transport-tcp/dist/index.js'
import { MESSAGE_BYTES, message, plainRun as plainLink, yieldToLoop } from './plain-net.mjs'
import { machineInfo, report } from './table.mjs'

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 200_000)
const RUNS = Number(process.env.BENCH_RUNS ?? 3)
const BURST = 1000
const HOST = '127.0.0.1'
const SECRET = 'bench-cluster-secret-0123456789'

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

// --- plain node:net + msgpackr (plain-net.mjs) -----------------------------

const plainRun = ({ echo }) => plainLink({ echo, messages: MESSAGES })

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
