// The practical ceiling of a link on this machine: plain node:net with length-prefixed msgpackr frames, one
// write per burst, nothing else. Shared by transport-bench.mjs and etcd-bench.mjs.
import { Buffer } from 'node:buffer'
import { createRequire } from 'node:module'
import { connect, createServer } from 'node:net'
import { performance } from 'node:perf_hooks'
import { setImmediate } from 'node:timers'
import { URL, pathToFileURL } from 'node:url'

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
