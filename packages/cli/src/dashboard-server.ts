import { createServer, type ServerResponse } from 'node:http'
import { ErrorCodes, LockstepError } from '@lockstep/interface'
import type { ClusterWatch } from './cluster-watch'
import { renderDashboardHtml, type DashboardInit } from './dashboard-page'

/** A running dashboard server. */
export interface DashboardServer {
  /** `http://127.0.0.1:<port>/` */
  readonly url: string
  readonly port: number
  /** Ends every event stream and stops listening. */
  close(): Promise<void>
}

/**
 * Serves the dashboard on `host:port` (0: a free port): `GET /` the page, `GET /events` server-sent events
 * (`hello` with the samples and events kept, then `sample` after every poll of `watch`), `GET /state` the same
 * history as JSON. Resolves once it listens.
 */
export async function startDashboardServer(listen: { readonly host: string; readonly port: number }, watch: ClusterWatch, init: DashboardInit): Promise<DashboardServer> {
  const page = renderDashboardHtml(init)
  const streams = new Set<ServerResponse>()
  const unsubscribe = watch.subscribe((sample, events) => {
    const frame = `event: sample\ndata: ${JSON.stringify({ sample, events })}\n\n`
    for (const stream of streams) stream.write(frame)
  })
  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://dashboard').pathname
    if (request.method !== 'GET') return sendJson(response, 405, { ok: false, error: { code: ErrorCodes.INVALID_ARGUMENT, message: `${request.method ?? '?'} ${path}: the dashboard answers GET only` } })
    switch (path) {
      case '/':
      case '/index.html':
        response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
        response.end(page)
        return
      case '/events': {
        response.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive' })
        // The browser reconnects by itself after 1 s if the stream breaks.
        response.write(`retry: 1000\nevent: hello\ndata: ${JSON.stringify(watch.history())}\n\n`)
        streams.add(response)
        request.once('close', () => streams.delete(response))
        return
      }
      case '/state':
        return sendJson(response, 200, { init, ...watch.history() })
      default:
        return sendJson(response, 404, { ok: false, error: { code: ErrorCodes.INVALID_ARGUMENT, message: `no ${path} here: GET / (the page), /events (server-sent events), /state (JSON)` } })
    }
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      unsubscribe()
      reject(new LockstepError(ErrorCodes.INVALID_CONFIG, `lockstep dashboard: cannot serve on ${listen.host}:${listen.port}: ${error.message} (choose another --port, or --port 0 for a free one)`))
    })
    server.listen(listen.port, listen.host, () => resolve())
  })
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : listen.port
  let closing: Promise<void> | undefined
  return {
    url: `http://${listen.host}:${port}/`,
    port,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        unsubscribe()
        for (const stream of streams) stream.end()
        streams.clear()
        server.close(() => resolve())
        server.closeAllConnections()
      })),
  }
}

function sendJson(response: ServerResponse, status: number, value: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' })
  response.end(`${JSON.stringify(value)}\n`)
}
