/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import type { ClusterEvent, ClusterSample, ReplicaSample } from './cluster-watch'

/** What the page knows before the first event: the cluster, and how the server polls it. */
export interface DashboardInit {
  readonly cluster: { readonly id: string; readonly file: string; readonly order: string; readonly machine: string; readonly replicas: readonly string[] }
  readonly intervalMs: number
  readonly historyLength: number
  /** The machine is a mutex (the seed's, or a spec or module whose name says mutex): the page shows the lock panel. */
  readonly lockMachine: boolean
}

/**
 * The dashboard page's script: listens to the server's events (`/events`: `hello` with the history, then
 * `sample` after every poll) and draws the replicas' table, the charts (plain SVG) and the recent events. The
 * page embeds this function's source: it must not use anything outside its own body, and it loads nothing
 * else (the page works offline).
 *
 * What it shows is also in the DOM for programs: `#dashboard` carries `data-updates` (samples drawn),
 * `data-sample-at` (the last sample's time), `data-updated-at` (when it was drawn) and `data-connected`;
 * each replica's row `data-replica`, `data-up`, `data-status`, `data-view`, `data-position` and
 * `data-changed-at` (when its `data-up` last changed, epoch ms); the lock panel (`#lock`) `data-exposed` (the
 * replicas report the lock's state), `data-holder`, `data-queue` (a JSON array, in grant order),
 * `data-queue-length`, `data-lease-expires` (epoch ms), `data-token` and `data-from` (the replica it is from).
 */
export function dashboardPage(init: DashboardInit): void {
  const CHART_WIDTH = 620
  const CHART_HEIGHT = 190
  const PAD = { left: 54, right: 12, top: 12, bottom: 26 }
  const COLORS = ['#1f5fbf', '#e08a00', '#2e9d4a', '#8a3ab9', '#c62828', '#11838b', '#6d4c41', '#d81b60']
  const esc = (text: unknown) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
  const byId = (id: string) => document.getElementById(id)!
  const clock = (ms: number) => new Date(ms).toLocaleTimeString([], { hour12: false })
  const color = (id: string) => COLORS[Math.max(0, init.cluster.replicas.indexOf(id)) % COLORS.length]!
  const root = byId('dashboard')
  const samples: ClusterSample[] = []
  let events: ClusterEvent[] = []
  let updates = 0
  const upChangedAt = new Map<string, { up: boolean; atMs: number }>()

  byId('cluster').innerHTML =
    `<h1>Lockstep dashboard: cluster ${esc(init.cluster.id)}</h1>` +
    `<p>${esc(init.cluster.file)} · ${init.cluster.replicas.length} replicas (${esc(init.cluster.replicas.join(', '))}) · ${esc(init.cluster.order)} ordering · machine ${esc(init.cluster.machine)} · polled every ${init.intervalMs} ms</p>`

  interface Series {
    readonly label: string
    readonly value: (replica: Extract<ReplicaSample, { up: true }>) => number | null
  }
  const charts: { readonly name: string; readonly series: Series }[] = [
    { name: 'position', series: { label: 'Delivered position (requests delivered)', value: (r) => r.position } },
    { name: 'lag', series: { label: 'Stability lag (requests held, not delivered yet)', value: (r) => r.pendingRequests } },
    { name: 'requests', series: { label: 'Client requests/s received (last 10 s)', value: (r) => r.requestsPerSecond } },
    { name: 'connections', series: { label: 'Connections (clients; peers dashed)', value: (r) => r.clientConnections } },
  ]

  function niceMax(value: number): number {
    if (value <= 0) return 1
    const magnitude = 10 ** Math.floor(Math.log10(value))
    for (const step of [1, 2, 2.5, 5, 10]) if (value <= step * magnitude) return step * magnitude
    return 10 * magnitude
  }

  /** One chart: a line per replica over the samples kept, broken where the replica was down. */
  function chart(name: string, series: Series): string {
    const first = samples[0]
    const last = samples.at(-1)
    const plotWidth = CHART_WIDTH - PAD.left - PAD.right
    const plotHeight = CHART_HEIGHT - PAD.top - PAD.bottom
    const startMs = first?.atMs ?? 0
    const spanMs = Math.max(1000, (last?.atMs ?? 0) - startMs)
    const extra = name === 'connections' ? (r: Extract<ReplicaSample, { up: true }>) => r.peersConnected.length : undefined
    let top = 0
    for (const sample of samples) {
      for (const replica of sample.replicas) {
        if (!replica.up) continue
        top = Math.max(top, series.value(replica) ?? 0, extra?.(replica) ?? 0)
      }
    }
    top = niceMax(top)
    const x = (atMs: number) => PAD.left + ((atMs - startMs) / spanMs) * plotWidth
    const y = (value: number) => PAD.top + plotHeight - (value / top) * plotHeight
    const grid = [0, 0.5, 1]
      .map((f) => `<line class="grid" x1="${PAD.left}" x2="${PAD.left + plotWidth}" y1="${y(top * f)}" y2="${y(top * f)}"/><text class="axis" x="${PAD.left - 6}" y="${y(top * f) + 4}" text-anchor="end">${+(top * f).toFixed(2)}</text>`)
      .join('')
    const timeLabels = first && last ? `<text class="axis" x="${PAD.left}" y="${CHART_HEIGHT - 6}">${clock(first.atMs)}</text><text class="axis" x="${PAD.left + plotWidth}" y="${CHART_HEIGHT - 6}" text-anchor="end">${clock(last.atMs)}</text>` : ''
    const lines = init.cluster.replicas
      .map((id) => {
        const paths: string[] = []
        for (const [kind, read] of [['', series.value], ['peers', extra]] as const) {
          if (read === undefined) continue
          let d = ''
          let points = 0
          let penUp = true
          for (const sample of samples) {
            const replica = sample.replicas.find((r) => r.id === id)
            const value = replica?.up ? read(replica) : null
            if (value === null || value === undefined) {
              penUp = true
              continue
            }
            d += `${penUp ? 'M' : 'L'}${x(sample.atMs).toFixed(1)},${y(value).toFixed(1)}`
            penUp = false
            points++
          }
          paths.push(`<path class="series${kind ? ` series-${kind}` : ''}" data-replica="${esc(id)}" data-points="${points}" stroke="${color(id)}" d="${d}"/>`)
        }
        return paths.join('')
      })
      .join('')
    return `<figure class="chart-box"><figcaption>${esc(series.label)}</figcaption><svg class="chart" data-chart="${name}" width="${CHART_WIDTH}" height="${CHART_HEIGHT}" viewBox="0 0 ${CHART_WIDTH} ${CHART_HEIGHT}">${grid}${timeLabels}${lines}</svg></figure>`
  }

  function replicaRow(replica: ReplicaSample): string {
    const changed = upChangedAt.get(replica.id)?.atMs ?? ''
    const head = `<tr class="replica ${replica.up ? 'up' : 'down'}" data-replica="${esc(replica.id)}" data-up="${replica.up}" data-changed-at="${changed}"`
    const name = `<td class="id"><span class="swatch" style="background:${color(replica.id)}"></span>${esc(replica.id)}</td>`
    if (!replica.up) {
      return `${head} data-status="down"><td class="state">down</td>${name}<td colspan="11" class="error">${esc(replica.error.code)}: ${esc(replica.error.message)}</td></tr>`
    }
    const lag = `${replica.pendingRequests}${replica.oldestPendingMs === null ? '' : ` (${Math.round(replica.oldestPendingMs)} ms)`}`
    const cells = [
      replica.status,
      String(replica.view.id),
      replica.view.members.join(', '),
      String(replica.position),
      lag,
      replica.peersConnected.join(', ') || '-',
      String(replica.clientConnections),
      String(replica.requestsPerSecond),
      replica.suspected.join(', ') || '-',
      replica.viewChangesTotal === null ? '?' : String(replica.viewChangesTotal),
      replica.suspicionsTotal === null ? '?' : String(replica.suspicionsTotal),
    ]
    return `${head} data-status="${esc(replica.status)}" data-view="${replica.view.id}" data-position="${replica.position}"><td class="state">up</td>${name}${cells.map((cell, i) => `<td${i === 0 ? ` class="status status-${esc(cell)}"` : ''}>${esc(cell)}</td>`).join('')}</tr>`
  }

  function lockPanel(latest: ClusterSample | undefined, nowMs: number): string {
    const serving = latest?.replicas.filter((r): r is Extract<ReplicaSample, { up: true }> => r.up && r.status === 'normal') ?? []
    const most = (read: (r: Extract<ReplicaSample, { up: true }>) => number) => (serving.length === 0 ? '-' : String(Math.max(...serving.map(read))))
    const lock = latest?.lock
    let state: string
    if (lock === undefined) state = '<p class="honest">waiting for the first poll…</p>'
    else if (!lock.shown) state = `<p class="honest">The holder and the queue cannot be shown: ${esc(lock.reason)}.</p>`
    else {
      const lease = lock.leaseExpiresAtMs === null
        ? '-'
        : `${clock(lock.leaseExpiresAtMs)} (${lock.leaseExpiresAtMs > nowMs ? `in ${((lock.leaseExpiresAtMs - nowMs) / 1000).toFixed(1)} s` : 'passed: over at the next command'})`
      const more = lock.queueLength > lock.queue.length ? ` … and ${lock.queueLength - lock.queue.length} more` : ''
      state =
        `<dl><dt>holder</dt><dd data-field="holder">${lock.holder === null ? '<span class="free">free</span>' : esc(lock.holder)}</dd>` +
        `<dt>queue (${lock.queueLength} waiting)</dt><dd data-field="queue">${lock.queue.length === 0 ? '-' : `<ol>${lock.queue.map((id) => `<li>${esc(id)}</li>`).join('')}</ol>${esc(more)}`}</dd>` +
        `<dt>lease ends</dt><dd data-field="lease">${esc(lease)}</dd>` +
        (lock.token === null ? '' : `<dt>fencing token</dt><dd data-field="token">${lock.token}</dd>`) +
        `</dl><p class="source">from the state summary of ${esc(lock.from)} at position ${lock.position} (GET /status; "statusSummary": false in cluster.json hides it)</p>`
    }
    return (
      `<h2>Lock service</h2>${state}` +
      `<dl><dt>client sessions</dt><dd data-field="sessions">${most((r) => r.sessions)}</dd>` +
      `<dt>clients connected</dt><dd data-field="clients">${serving.length === 0 ? '-' : String(serving.reduce((sum, r) => sum + r.clientConnections, 0))}</dd>` +
      `<dt>requests held, not delivered</dt><dd data-field="held">${most((r) => r.pendingRequests)}</dd>` +
      `<dt>replies waiting</dt><dd data-field="replies-waiting">${most((r) => r.repliesWaiting)}</dd></dl>`
    )
  }

  /** The lock's state in the panel's data attributes, for programs (and the tests). */
  function lockData(panel: HTMLElement, latest: ClusterSample | undefined): void {
    const lock = latest?.lock
    const shown = lock !== undefined && lock.shown ? lock : undefined
    panel.dataset.exposed = String(shown !== undefined)
    panel.dataset.holder = shown?.holder ?? ''
    panel.dataset.queue = JSON.stringify(shown?.queue ?? [])
    panel.dataset.queueLength = String(shown?.queueLength ?? 0)
    panel.dataset.leaseExpires = shown === undefined || shown.leaseExpiresAtMs === null ? '' : String(shown.leaseExpiresAtMs)
    panel.dataset.token = shown === undefined || shown.token === null ? '' : String(shown.token)
    panel.dataset.from = shown?.from ?? ''
  }

  function render(): void {
    const latest = samples.at(-1)
    const nowMs = Date.now()
    for (const replica of latest?.replicas ?? []) {
      const known = upChangedAt.get(replica.id)
      if (known === undefined || known.up !== replica.up) upChangedAt.set(replica.id, { up: replica.up, atMs: nowMs })
    }
    const upCount = latest?.replicas.filter((r) => r.up).length ?? 0
    byId('summary').innerHTML = latest
      ? `<span class="${upCount > init.cluster.replicas.length / 2 ? 'ok' : 'bad'}">${upCount} of ${init.cluster.replicas.length} replicas up</span> · last poll ${clock(latest.atMs)}`
      : 'waiting for the first poll…'
    byId('replicas').innerHTML =
      '<thead><tr><th></th><th>replica</th><th>status</th><th>view</th><th>members</th><th>position</th><th>lag (oldest)</th><th>peers</th><th>clients</th><th>req/s</th><th>suspects</th><th>view changes</th><th>suspicions</th></tr></thead><tbody>' +
      (latest?.replicas ?? []).map(replicaRow).join('') +
      '</tbody>'
    byId('legend').innerHTML = init.cluster.replicas.map((id) => `<span><span class="swatch" style="background:${color(id)}"></span>${esc(id)}</span>`).join('')
    byId('charts').innerHTML = charts.map((c) => chart(c.name, c.series)).join('')
    const lock = document.getElementById('lock')
    if (lock) {
      lock.innerHTML = lockPanel(latest, nowMs)
      lockData(lock, latest)
    }
    byId('events').innerHTML =
      events.length === 0
        ? '<li class="none">no view changes, suspicions or replicas going down yet</li>'
        : events
            .slice()
            .reverse()
            .map((e) => `<li class="event event-${e.kind}" data-replica="${esc(e.replica)}" data-kind="${e.kind}" data-at="${e.atMs}"><time>${clock(e.atMs)}</time> ${esc(e.text)}</li>`)
            .join('')
    updates++
    root.dataset.updates = String(updates)
    root.dataset.updatedAt = String(nowMs)
    if (latest) root.dataset.sampleAt = String(latest.atMs)
  }

  function connected(yes: boolean): void {
    root.dataset.connected = String(yes)
    byId('connection').textContent = yes ? 'live' : 'disconnected from the dashboard server: retrying…'
    byId('connection').className = yes ? 'ok' : 'bad'
  }

  const source = new EventSource('events')
  source.addEventListener('open', () => connected(true))
  source.addEventListener('error', () => connected(false))
  source.addEventListener('hello', (message) => {
    const data = JSON.parse((message as MessageEvent<string>).data) as { samples: ClusterSample[]; events: ClusterEvent[] }
    samples.splice(0, samples.length, ...data.samples)
    events = data.events
    render()
  })
  source.addEventListener('sample', (message) => {
    const data = JSON.parse((message as MessageEvent<string>).data) as { sample: ClusterSample; events: ClusterEvent[] }
    samples.push(data.sample)
    if (samples.length > init.historyLength) samples.splice(0, samples.length - init.historyLength)
    events = [...events, ...data.events].slice(-100)
    render()
  })
  render()
}

const style = `
body { font: 14px system-ui, sans-serif; margin: 16px 20px; color: #222; background: #fafafa; }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 18px 0 6px; }
#cluster p { margin: 0; color: #555; }
#status-line { margin: 8px 0; } .ok { color: #2e7d32; font-weight: 600; } .bad { color: #c62828; font-weight: 600; }
table { border-collapse: collapse; background: #fff; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; white-space: nowrap; }
th { background: #f0f0f0; font-weight: 600; }
tr.replica td.state { font-weight: 700; color: #fff; text-align: center; }
tr.replica.up td.state { background: #2e7d32; } tr.replica.down td.state { background: #c62828; }
tr.replica.down td.error { color: #c62828; white-space: normal; }
td.status:not(.status-normal) { color: #e08a00; font-weight: 600; }
#legend { font-weight: normal; font-size: 13px; margin-left: 12px; } #legend > span { margin-right: 10px; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; }
#charts { display: flex; flex-wrap: wrap; gap: 12px; }
.chart-box { margin: 0; background: #fff; border: 1px solid #ddd; padding: 6px; }
.chart-box figcaption { font-weight: 600; margin-bottom: 2px; }
.chart .grid { stroke: #e4e4e4; } .chart .axis { font-size: 11px; fill: #777; }
.chart .series { fill: none; stroke-width: 2; } .chart .series-peers { stroke-dasharray: 4 3; stroke-width: 1.5; }
.columns { display: flex; flex-wrap: wrap; gap: 24px; }
#events { list-style: none; padding: 0; margin: 0; max-height: 260px; overflow: auto; min-width: 520px; background: #fff; border: 1px solid #ddd; }
#events li { padding: 2px 8px; border-bottom: 1px solid #eee; } #events time { color: #777; margin-right: 6px; }
.event-down { color: #c62828; } .event-up { color: #2e7d32; } .event-view { color: #1f5fbf; } .event-suspect, .event-status { color: #e08a00; }
#lock { max-width: 520px; } #lock dl { display: grid; grid-template-columns: max-content auto; gap: 2px 12px; } #lock dd { margin: 0; font-weight: 600; }
#lock ol { margin: 0; padding-left: 20px; } #lock .free { color: #2e7d32; } #lock .source { color: #777; font-size: 12px; margin: 4px 0 10px; }
.honest { color: #555; font-style: italic; }
`

/**
 * The dashboard's page: self-contained (inline style and script, no external resource), it reads the
 * server's events at `events` relative to its own address.
 */
export function renderDashboardHtml(init: DashboardInit): string {
  // `<` escaped: the JSON cannot close its script element, whatever the names hold.
  const data = JSON.stringify(init).replace(/</g, '\\u003c')
  const title = `Lockstep dashboard: ${init.cluster.id}`.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title}</title><style>${style}</style></head>
<body>
<main id="dashboard" data-updates="0" data-connected="false">
<header id="cluster"></header>
<div id="status-line"><span id="connection">connecting…</span> · <span id="summary"></span></div>
<h2>Replicas</h2>
<table id="replicas"></table>
<h2>Over time <span id="legend"></span></h2>
<div id="charts"></div>
<div class="columns">
<section><h2>Recent view changes, suspicions, replicas down and up</h2><ul id="events"></ul></section>
${init.lockMachine ? '<section id="lock" data-exposed="false"></section>' : ''}
</div>
</main>
<script type="application/json" id="dashboard-init">${data}</script>
<script>
"use strict";
(${dashboardPage.toString()})(JSON.parse(document.getElementById('dashboard-init').textContent));
</script>
</body></html>
`
}
