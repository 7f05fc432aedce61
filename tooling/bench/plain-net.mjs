// The practical ceiling of a link on this machine: plain node:net with length-prefixed msgpackr frames, one
// write per burst, nothing else. Shared by transport-bench.mjs and etcd-bench.mjs.
import { Buffer } from 'node:buffer'
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { connect, createServer } from 'node:net'
import { performance } from 'node:perf_hooks'
import process from 'node:process'
import { setImmediate, setTimeout } from 'node:timers'
import { URL, fileURLToPath, pathToFileURL } from 'node:url'

// msgpackr is a dependency of transport-tcp, not of the root: resolve it from there.
const require = createRequire(new URL('../../packages/transport-tcp/package.json', import.meta.url))
const { Packr, Unpackr } = await import(pathToFileURL(require.resolve('msgpackr')).href)

export const packr = new Packr({ useRecords: false })
const unpackr = new Unpackr({ useRecords: false })
const HOST = '127.0.0.1'
const BURST = 1000

/** A typical small message, padded so its msgpack encoding is 100 bytes. */
function makeMessage(seq) {
  return { type: 'request', client: 'client-0001', seq, command: { op: 'acquire', key: 'lock-000042' }, pad: '' }
}
const padLength = 100 - packr.pack(makeMessage(100_000)).length
/** Message number `seq`: 100 bytes of msgpack. */
export const message = (seq) => ({ ...makeMessage(seq), pad: 'x'.repeat(padLength) })
export const MESSAGE_BYTES = packr.pack(message(100_000)).length

export const yieldToLoop = () => new Promise((resolve) => setImmediate(resolve))

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

/**
 * Sends `messages` messages over one plain link on 127.0.0.1 in bursts of 1,000, one way or echoed back by
 * the server (then a message counts when its echo is back); resolves with the milliseconds it took.
 */
export async function plainRun({ echo, messages }) {
  let received = 0
  let done
  const finished = new Promise((resolve) => (done = resolve))
  const server = createServer((socket) => {
    socket.setNoDelay(true)
    let out = []
    const read = frameReader((value) => {
      if (echo) out.push(frame(value))
      else if (++received === messages) done()
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
    if (++received === messages) done()
  }))
  const started = performance.now()
  for (let seq = 0; seq < messages; seq += BURST) {
    const burst = []
    for (let i = seq; i < Math.min(seq + BURST, messages); i += 1) burst.push(frame(message(i)))
    if (!client.write(Buffer.concat(burst))) await new Promise((resolve) => client.once('drain', resolve))
    else await yieldToLoop()
  }
  await finished
  const elapsedMs = performance.now() - started
  client.destroy()
  await new Promise((resolve) => server.close(resolve))
  return elapsedMs
}

/**
 * The floor of the "64 clients" rows: `connections` plain node:net connections on 127.0.0.1 from this process to
 * an echo server in a process of its own (as the benchmark's clients and a replica are), each a closed loop of one
 * 100-byte msgpack frame that the server decodes and writes back: one write per frame at each end, as a client with
 * its own connection and one request in flight costs at the least. No replication, no second replica, no storage.
 * Resolves with round trips/s after `warmupMs`, over `durationMs`, and the CPU time per round trip of both processes.
 */
export async function plainRoundTrips({ connections, durationMs, warmupMs = 300 }) {
  const server = spawn(process.execPath, [fileURLToPath(import.meta.url), ECHO_SERVER_FLAG], { stdio: ['ignore', 'pipe', 'inherit'] })
  try {
    const port = await new Promise((resolve, reject) => {
      server.stdout.once('data', (chunk) => resolve(Number(String(chunk).trim())))
      server.once('exit', (code) => reject(new Error(`the echo server exited with ${code}`)))
    })
    let completed = 0
    let running = true
    const clients = []
    for (let i = 0; i < connections; i++) {
      const client = connect(port, HOST)
      client.setNoDelay(true)
      client.on('error', () => {})
      await new Promise((resolve) => client.once('connect', resolve))
      let seq = 0
      client.on('data', frameReader(() => {
        completed++
        if (running) client.write(frame(message(++seq)))
      }))
      clients.push(client)
    }
    for (const client of clients) client.write(frame(message(0)))
    await new Promise((resolve) => setTimeout(resolve, warmupMs))
    const startCount = completed
    const startCpu = process.cpuUsage()
    const serverCpuBefore = processCpuMs(server.pid)
    const started = performance.now()
    await new Promise((resolve) => setTimeout(resolve, durationMs))
    const seconds = (performance.now() - started) / 1000
    const cpu = process.cpuUsage(startCpu)
    const serverCpuMs = processCpuMs(server.pid) - serverCpuBefore
    const roundTrips = completed - startCount
    running = false
    for (const client of clients) client.destroy()
    const cpuUs = (cpu.user + cpu.system) + serverCpuMs * 1000
    return { 'round trips/s': Math.round(roundTrips / seconds), 'cpu µs per round trip': Math.round((cpuUs / roundTrips) * 10) / 10 }
  } finally {
    server.kill()
  }
}

const ECHO_SERVER_FLAG = '--echo-server'

/** User + system CPU milliseconds of process `pid` so far (Linux: /proc; 0 elsewhere). */
function processCpuMs(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100 // utime + stime, in clock ticks of 1/100 s
  } catch {
    return 0
  }
}

// `node plain-net.mjs --echo-server`: the echo server of plainRoundTrips; prints its port, then serves until killed.
if (process.argv[2] === ECHO_SERVER_FLAG) {
  const server = createServer((socket) => {
    socket.setNoDelay(true)
    socket.on('error', () => {}) // the clients reset their connections at the end
    socket.on('data', frameReader((value) => socket.write(frame(value))))
  })
  server.listen(0, HOST, () => process.stdout.write(`${server.address().port}\n`))
}
