import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Readable, Writable } from 'node:stream'

/**
 * Headless Chromium driven over the DevTools protocol through `--remote-debugging-pipe` (JSON messages ended
 * by a NUL byte on file descriptors 3 and 4): no WebSocket and no npm package needed. Where `runChromium`
 * takes one snapshot of a page after it loaded, a `DevtoolsPage` stays open: tests evaluate expressions in the
 * page as it changes and take screenshots when they choose.
 */
export interface DevtoolsPage {
  /** Evaluates `expression` in the page and returns its value (JSON-serialisable). */
  evaluate<T>(expression: string): Promise<T>
  /** A PNG of the page as it is now (the whole page, not just the window). */
  screenshot(): Promise<Buffer>
  /** Closes the browser and kills its process group; idempotent. */
  close(): Promise<void>
}

interface Pending {
  resolve(result: Record<string, unknown>): void
  reject(error: Error): void
}

/** Opens `url` in a fresh headless Chromium (profile of its own) and resolves once the page loaded. */
export async function openDevtoolsPage(chromium: string, url: string, options: { readonly width?: number; readonly height?: number; readonly timeoutMs?: number; readonly startTimeoutMs?: number } = {}): Promise<DevtoolsPage> {
  const timeoutMs = options.timeoutMs ?? 30_000
  // A browser starting on a starved machine (the other tests run alongside) answered its first command after more
  // than 30 s once: its start has a budget of its own.
  const startTimeoutMs = options.startTimeoutMs ?? 120_000
  const profile = mkdtempSync(join(tmpdir(), 'lockstep-devtools-'))
  const child = spawn(
    chromium,
    ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--hide-scrollbars', '--remote-debugging-pipe', `--user-data-dir=${profile}`, `--window-size=${options.width ?? 1400},${options.height ?? 900}`, 'about:blank'],
    // TMPDIR: its temporary files (the singleton socket's folder) go with the profile.
    { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'], detached: true, env: { ...process.env, TMPDIR: profile } },
  )
  const toBrowser = child.stdio[3] as Writable
  const fromBrowser = child.stdio[4] as Readable
  let stderr = ''
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-4000)))
  const pending = new Map<number, Pending>()
  const eventWaiters: { method: string; sessionId: string | undefined; resolve: () => void }[] = []
  let lastId = 0
  let buffered = ''
  let closed = false
  const failAll = (error: Error) => {
    for (const waiter of pending.values()) waiter.reject(error)
    pending.clear()
  }
  fromBrowser.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk
    for (let end = buffered.indexOf('\0'); end >= 0; end = buffered.indexOf('\0')) {
      const message = JSON.parse(buffered.slice(0, end)) as { id?: number; method?: string; sessionId?: string; result?: Record<string, unknown>; error?: { message: string } }
      buffered = buffered.slice(end + 1)
      if (message.id !== undefined) {
        const waiter = pending.get(message.id)
        pending.delete(message.id)
        if (message.error) waiter?.reject(new Error(`DevTools: ${message.error.message}`))
        else waiter?.resolve(message.result ?? {})
      } else if (message.method !== undefined) {
        for (const [i, waiter] of eventWaiters.entries()) {
          if (waiter.method === message.method && waiter.sessionId === message.sessionId) {
            eventWaiters.splice(i, 1)
            waiter.resolve()
            break
          }
        }
      }
    }
  })
  child.once('exit', () => failAll(new Error(`chromium exited: ${stderr.trim().split('\n').slice(-3).join(' ')}`)))
  const send = (method: string, params: Record<string, unknown> = {}, sessionId?: string, answerWithinMs = timeoutMs) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const id = ++lastId
      const timer = setTimeout(() => {
        pending.delete(id)
        reject(new Error(`DevTools: no answer to ${method} within ${answerWithinMs} ms`))
      }, answerWithinMs)
      pending.set(id, {
        resolve: (result) => (clearTimeout(timer), resolve(result)),
        reject: (error) => (clearTimeout(timer), reject(error)),
      })
      toBrowser.write(`${JSON.stringify({ id, method, params, ...(sessionId === undefined ? {} : { sessionId }) })}\0`)
    })
  const nextEvent = (method: string, sessionId: string) => new Promise<void>((resolve) => eventWaiters.push({ method, sessionId, resolve }))
  const close = async () => {
    if (closed) return
    closed = true
    await Promise.race([send('Browser.close').catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 2000))])
    if (child.pid !== undefined && child.exitCode === null) {
      try {
        process.kill(-child.pid, 'SIGKILL')
      } catch {
        // It exited in the meantime.
      }
    }
    rmSync(profile, { recursive: true, force: true })
  }
  openPages.add(close)
  try {
    const { targetId } = (await send('Target.createTarget', { url: 'about:blank' }, undefined, startTimeoutMs)) as { targetId: string }
    const { sessionId } = (await send('Target.attachToTarget', { targetId, flatten: true })) as { sessionId: string }
    await send('Page.enable', {}, sessionId)
    const loaded = nextEvent('Page.loadEventFired', sessionId)
    await send('Page.navigate', { url }, sessionId)
    await loaded
    return {
      async evaluate<T>(expression: string): Promise<T> {
        const answer = (await send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true }, sessionId)) as { result: { value?: unknown }; exceptionDetails?: { text: string; exception?: { description?: string } } }
        if (answer.exceptionDetails) throw new Error(`in the page: ${answer.exceptionDetails.exception?.description ?? answer.exceptionDetails.text} (evaluating ${expression})`)
        return answer.result.value as T
      },
      async screenshot(): Promise<Buffer> {
        const { data } = (await send('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true }, sessionId)) as { data: string }
        return Buffer.from(data, 'base64')
      },
      close: async () => {
        openPages.delete(close)
        await close()
      },
    }
  } catch (error) {
    await close()
    throw error
  }
}

/** Every page still open: {@link closeAllDevtoolsPages} closes them (afterAll, also after a failure). */
const openPages = new Set<() => Promise<void>>()

/** Closes every page a test opened and did not close. */
export async function closeAllDevtoolsPages(): Promise<void> {
  await Promise.all([...openPages].map((close) => close()))
  openPages.clear()
}
