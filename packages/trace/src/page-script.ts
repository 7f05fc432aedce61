/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import type { DeliveryExplanation } from './explain-delivery'
import type { Trace, TraceEvent } from './trace-format'

/**
 * The trace page's script: draws the space-time diagram of `trace` as SVG and explains what the reader selects.
 * The page embeds this function's source (after `explainDelivery`'s): it must not use anything outside its own
 * body, and it must not load anything (the page works offline).
 *
 * In the diagram: one lane per replica and client, time to the right; messages as arrows from send to receive
 * (a cross where the network dropped one, dashed to the end when still in flight); deliveries as dots
 * numbered by position; view changes as flags; faults as shaded bands; statuses other than `normal` as bands on
 * their lane. `#select=r2:10` in the address selects r2's delivery at position 10, `#select=violation` the
 * first delivery a violation names.
 */
export function tracePage(trace: Trace, explain: (trace: Trace, index: number) => DeliveryExplanation | undefined): void {
  const MAX_ARROWS = 30_000
  const LANE_HEIGHT = 46
  const TOP = 34
  const LEFT = 64
  const esc = (text: unknown) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
  const ms = (t: number) => `${(Math.round(t * 10) / 10).toFixed(1)} ms`
  const byId = (id: string) => document.getElementById(id)!
  const events: readonly TraceEvent[] = trace.events
  const lanes = [...trace.replicas, ...trace.clients]
  const laneOf = new Map(lanes.map((name, i) => [name, i]))
  const laneY = (name: string) => TOP + (laneOf.get(name) ?? 0) * LANE_HEIGHT + LANE_HEIGHT / 2
  const endMs = Math.max(trace.endMs, 1)
  // Fit the run in a screen's width, but give a busy lane's deliveries about 12 px each (at most 60,000 px in all).
  const busiestLane = Math.max(0, ...trace.replicas.map((replica) => events.filter((e) => e.type === 'deliver' && e.replica === replica).length))
  let scale = Math.min(20, Math.max(0.02, 1400 / endMs, Math.min(60_000, 12 * busiestLane) / endMs))
  let showHeartbeats = false
  let selected: number | undefined

  // Messages: each send with its receive or drop.
  interface Message { send: Extract<TraceEvent, { type: 'send' }>; sendIndex: number; end?: Extract<TraceEvent, { type: 'receive' | 'drop' }> }
  const messages: Message[] = []
  const messageById = new Map<number, Message>()
  events.forEach((event, index) => {
    if (event.type === 'send') {
      const message = { send: event, sendIndex: index }
      messages.push(message)
      messageById.set(event.id, message)
    } else if (event.type === 'receive' || event.type === 'drop') {
      const message = messageById.get(event.id)
      if (message) message.end = event
    }
  })

  // The deliveries each violation names exactly ('violating'), and those of the requests it names ('named').
  const violatingBy = new Map<number, number[]>()
  const named = new Set<number>()
  trace.violations.forEach((violation, v) => {
    events.forEach((event, index) => {
      if (event.type !== 'deliver') return
      const exact = violation.deliveries.some((d) => d.replica === event.replica && d.position === event.position && (d.incarnation === undefined || d.incarnation === event.incarnation) && (d.key === undefined || d.key === event.key))
      if (exact) violatingBy.set(index, [...(violatingBy.get(index) ?? []), v])
      else if (violation.requests.includes(event.key)) named.add(index)
    })
  })

  const kindClass = (kind: string) => {
    if (kind === 'orderer' || kind === 'heartbeat' || kind === 'request' || kind === 'reply' || kind === 'output') return `kind-${kind}`
    if (['stateRequest', 'stateChunk', 'stateSuffix', 'durable'].includes(kind)) return 'kind-transfer'
    if (kind === 'outputs') return 'kind-request'
    return 'kind-view'
  }

  function render(): void {
    const x = (t: number) => LEFT + t * scale
    const width = Math.ceil(x(endMs)) + 40
    const height = TOP + lanes.length * LANE_HEIGHT + 10
    const parts: string[] = []
    parts.push(`<svg xmlns="http://www.w3.org/2000/svg" id="diagram" width="${width}" height="${height}" data-scale="${scale}">`)
    parts.push('<defs><marker id="head" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="context-stroke"/></marker></defs>')
    // Time axis.
    const step = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000].find((s) => s * scale >= 70) ?? 100000
    parts.push('<g class="axis">')
    for (let t = 0; t <= endMs; t += step) parts.push(`<line x1="${x(t)}" y1="${TOP - 6}" x2="${x(t)}" y2="${height - 10}" class="tick"/><text x="${x(t) + 2}" y="${TOP - 10}">${t} ms</text>`)
    parts.push('</g>')
    // Lanes.
    lanes.forEach((name, i) => {
      const y = TOP + i * LANE_HEIGHT + LANE_HEIGHT / 2
      const kind = i < trace.replicas.length ? 'replica' : 'client'
      parts.push(`<g class="lane lane-${kind}" data-lane="${esc(name)}"><line x1="${LEFT}" y1="${y}" x2="${width - 20}" y2="${y}"/><text class="lane-label" x="6" y="${y + 4}">${esc(name)}</text></g>`)
    })
    // Statuses other than normal, as bands on their lane.
    const open = new Map<string, { status: string; t: number }>()
    const band = (replica: string, status: string, from: number, to: number) => {
      if (status === 'normal' || to <= from) return
      const y = laneY(replica) - LANE_HEIGHT / 2 + 4
      parts.push(`<rect class="status status-${esc(status)}" data-replica="${esc(replica)}" x="${x(from)}" y="${y}" width="${Math.max(1, (to - from) * scale)}" height="${LANE_HEIGHT - 8}"><title>${esc(replica)} ${esc(status)} from ${ms(from)} to ${ms(to)}</title></rect>`)
    }
    for (const event of events) {
      if (event.type !== 'status') continue
      const before = open.get(event.replica)
      if (before) band(event.replica, before.status, before.t, event.t)
      open.set(event.replica, { status: event.status, t: event.t })
    }
    for (const [replica, { status, t }] of open) band(replica, status, t, endMs)
    // Faults, as bands across the lanes they hit.
    for (const event of events) {
      if (event.type !== 'fault') continue
      const hit = event.client ? [event.client] : event.replicas.length > 0 ? event.replicas : trace.replicas
      const ys = hit.map(laneY)
      const y1 = Math.min(...ys) - LANE_HEIGHT / 2 + 1
      const y2 = Math.max(...ys) + LANE_HEIGHT / 2 - 1
      parts.push(`<g class="fault fault-${esc(event.kind)}"><rect x="${x(event.t)}" y="${y1}" width="${Math.max(2, event.durationMs * scale)}" height="${y2 - y1}"/><text x="${x(event.t) + 3}" y="${y1 + 11}">⚡ ${esc(event.summary)}</text><title>fault at ${ms(event.t)}: ${esc(event.summary)}</title></g>`)
    }
    // Messages.
    let drawn = 0
    let hidden = 0
    for (const message of messages) {
      const { send, end } = message
      if (send.kind === 'heartbeat' && !showHeartbeats) {
        hidden++
        continue
      }
      if (drawn >= MAX_ARROWS) break
      drawn++
      const x1 = x(send.t)
      const y1 = laneY(send.from)
      const t2 = end ? end.t : endMs
      const y2 = end || laneOf.has(send.to) ? laneY(send.to) : y1
      const state = !end ? 'in-flight' : end.type === 'drop' ? 'dropped' : 'received'
      const cls = `msg ${kindClass(send.kind)} ${state}`
      const title = `#${send.id} ${send.from}→${send.to} ${send.kind}: ${send.summary}; sent ${ms(send.t)}, ${state === 'received' ? `received ${ms(t2)}` : state === 'dropped' ? `dropped ${ms(t2)} (${end?.type === 'drop' ? end.reason : ''})` : 'still in flight at the end'}`
      const head = state === 'received' ? ' marker-end="url(#head)"' : ''
      parts.push(`<line class="${cls}" data-id="${send.id}" data-from="${esc(send.from)}" data-to="${esc(send.to)}" x1="${x1}" y1="${y1}" x2="${x(t2)}" y2="${y2}"${head}><title>${esc(title)}</title></line>`)
      if (state === 'dropped') parts.push(`<text class="drop-mark" x="${x(t2) - 4}" y="${y2 + 4}">✕</text>`)
    }
    // Client requests and first replies.
    for (const event of events) {
      if (event.type === 'client-request') parts.push(`<circle class="client-request" data-key="${esc(event.key)}" cx="${x(event.t)}" cy="${laneY(event.client)}" r="3"><title>${esc(event.client)} submits ${esc(event.key)} to ${esc(event.to)} at ${ms(event.t)}</title></circle>`)
      else if (event.type === 'client-reply') parts.push(`<rect class="client-reply" data-key="${esc(event.key)}" x="${x(event.t) - 3}" y="${laneY(event.client) - 3}" width="6" height="6"><title>${esc(event.client)} has the reply to ${esc(event.key)} from ${esc(event.from)}${event.position === undefined ? '' : ` (position ${event.position})`} at ${ms(event.t)}</title></rect>`)
    }
    // View changes.
    events.forEach((event) => {
      if (event.type !== 'view') return
      const y = laneY(event.replica)
      parts.push(`<g class="view-change" data-replica="${esc(event.replica)}" data-view="${event.view}"><line x1="${x(event.t)}" y1="${y - LANE_HEIGHT / 2 + 2}" x2="${x(event.t)}" y2="${y + LANE_HEIGHT / 2 - 2}"/><text x="${x(event.t) + 2}" y="${y + LANE_HEIGHT / 2 - 4}">v${event.view}</text><title>${esc(event.replica)} installs view ${event.view} {${esc(event.members.join(','))}} at position ${event.position}, ${ms(event.t)}</title></g>`)
    })
    // Deliveries, numbered by position; a number that would overlap the one before on its lane goes below.
    // The ones a violation names are drawn last, on top of their neighbours.
    const lastLabel = new Map<string, { x: number; below: boolean }>()
    const drawnLast: string[] = []
    events.forEach((event, index) => {
      if (event.type !== 'deliver') return
      const before = lastLabel.get(event.replica)
      const below = before !== undefined && x(event.t) - before.x < 14 && !before.below
      lastLabel.set(event.replica, { x: x(event.t), below })
      const cls = `delivery${violatingBy.has(index) ? ' violating' : named.has(index) ? ' named' : ''}${event.executed ? '' : ' duplicate'}${selected === index ? ' selected' : ''}`
      const y = laneY(event.replica)
      ;(violatingBy.has(index) ? drawnLast : parts).push(`<g class="${cls}" data-index="${index}" data-replica="${esc(event.replica)}" data-position="${event.position}" data-key="${esc(event.key)}"><circle cx="${x(event.t)}" cy="${y}" r="${violatingBy.has(index) ? 7 : 5}"/><text class="position" x="${x(event.t)}" y="${below ? y + 17 : y - 9}">${event.position}</text><title>${esc(event.replica)} delivers ${esc(event.key)} at position ${event.position}, ${ms(event.t)}${event.executed ? '' : ' (a duplicate: not executed again)'}</title></g>`)
    })
    parts.push(...drawnLast, '</svg>')
    byId('diagram-host').innerHTML = parts.join('')
    byId('arrow-note').textContent = `· ${drawn} of ${messages.length} messages drawn${hidden > 0 ? `; ${hidden} heartbeats hidden (tick “heartbeats” to show them)` : ''}${drawn >= MAX_ARROWS ? `; at most ${MAX_ARROWS} are drawn: the JSON trace has them all` : ''}.`
    if (selected !== undefined) markWaited(selected)
  }

  function markWaited(index: number): void {
    const why = explain(trace, index)
    if (!why) return
    const ids = new Set<number>()
    if (why.arrival) ids.add(why.arrival.id)
    for (const wait of why.waits) if (wait.last) ids.add(wait.last.id)
    for (const line of document.querySelectorAll<SVGLineElement>('#diagram line.msg')) line.classList.toggle('waited', ids.has(Number(line.dataset.id)))
  }

  function select(index: number): void {
    const event = events[index]
    if (!event || event.type !== 'deliver') return
    selected = index
    for (const node of document.querySelectorAll('#diagram .delivery.selected')) node.classList.remove('selected')
    document.querySelector(`#diagram .delivery[data-index="${index}"]`)?.classList.add('selected')
    markWaited(index)
    const why = explain(trace, index)!
    const rows = why.waits.map((wait) => `<tr class="wait${wait.member === why.lastArrived ? ' last-arrived' : ''}" data-member="${esc(wait.member)}"><td>${esc(wait.member)}</td><td>${wait.last ? `#${wait.last.id} ${esc(wait.last.summary)}` : '<i>none since this run of the replica started</i>'}</td><td>${wait.last?.sentAt === undefined ? '' : ms(wait.last.sentAt)}</td><td>${wait.last ? ms(wait.last.t) : ''}</td><td>${wait.afterArrival ? 'yes' : 'no'}</td></tr>`)
    const violations = (violatingBy.get(index) ?? []).map((v) => `<p class="violation-text">✖ ${esc(trace.violations[v]!.message)}</p>`).join('')
    const arrival = why.arrival ? `It reached ${esc(why.replica)} at ${ms(why.arrival.t)} from ${esc(why.arrival.from)} (${esc(why.arrival.kind)} message #${why.arrival.id}).` : `The trace shows no message carrying it to ${esc(why.replica)} before the delivery.`
    byId('details').innerHTML = `<h2 id="selection">${esc(why.replica)} delivered ${esc(why.key)} at position ${why.position}, ${ms(why.t)}</h2>${violations}<p>${arrival}</p>` +
      `<p>${esc(why.replica)}'s view then: {${esc(why.members.join(', '))}}. The last orderer message it had received from each other member before delivering:</p>` +
      `<table id="waits"><thead><tr><th>member</th><th>message</th><th>sent</th><th>received</th><th>after the request?</th></tr></thead><tbody>${rows.join('')}</tbody></table>` +
      (why.lastArrived ? `<p>Of those that came after the request, ${esc(why.lastArrived)}'s came last: most likely the acknowledgement the delivery waited for.</p>` : '') +
      '<p class="honest">What this shows, and what not: the page sees the network, not the orderer’s state. With Lamport order a request is stable once a message with a later clock came from every member; the messages above carry those clocks and acknowledgements (c = the sender’s clock, a = the requests it acknowledges). Another orderer may wait for something else: read the messages with that in mind.</p>'
  }

  function selectFromHash(): void {
    const match = /select=([^&]+)/.exec(decodeURIComponent(location.hash))
    if (!match) return
    let index: number | undefined
    if (match[1] === 'violation') index = [...violatingBy.keys()].sort((a, b) => a - b)[0]
    else {
      const [replica, position] = match[1]!.split(':')
      index = events.findIndex((e) => e.type === 'deliver' && e.replica === replica && e.position === Number(position))
    }
    if (index !== undefined && index >= 0) {
      select(index)
      document.querySelector(`#diagram .delivery[data-index="${index}"]`)?.scrollIntoView({ block: 'nearest', inline: 'center' })
    }
  }

  // The header: the run, its verdict and its violations.
  const counts = new Map<string, number>()
  for (const event of events) counts.set(event.type, (counts.get(event.type) ?? 0) + 1)
  byId('run').innerHTML = `<h1>Seed ${trace.seed}: <span class="${trace.ok ? 'ok' : 'failed'}" id="verdict">${trace.ok ? 'every check passed' : 'FAILED'}</span></h1>` +
    `<p><code>${esc(trace.rerun)}</code></p><p>${trace.replicas.length} replicas, ${trace.clients.length} clients, ${ms(trace.endMs)} of virtual time; ${[...counts].map(([type, n]) => `${n} ${esc(type)}`).join(', ')}.</p>` +
    (trace.truncated ? `<p class="truncated" id="truncated">Truncated: this trace keeps at most ${trace.truncated.maxEvents} events; ${trace.truncated.dropped} events from ${ms(trace.truncated.fromMs)} on were not kept (faults always are).</p>` : '')
  byId('violations').innerHTML = trace.violations.length === 0 ? '' : `<h2>Violations</h2><ol>${trace.violations.map((v, i) => `<li data-violation="${i}">${esc(v.message)}</li>`).join('')}</ol>`
  byId('violations').addEventListener('click', (event) => {
    const item = (event.target as Element).closest('[data-violation]')
    if (!item) return
    const v = Number((item as HTMLElement).dataset.violation)
    const index = [...violatingBy].find(([, list]) => list.includes(v))?.[0] ?? events.findIndex((e) => e.type === 'deliver' && trace.violations[v]!.requests.includes(e.key))
    if (index !== undefined && index >= 0) {
      select(index)
      document.querySelector(`#diagram .delivery[data-index="${index}"]`)?.scrollIntoView({ block: 'nearest', inline: 'center' })
    }
  })
  byId('diagram-host').addEventListener('click', (event) => {
    const target = event.target as Element
    const delivery = target.closest('.delivery') as SVGGElement | null
    if (delivery) {
      select(Number(delivery.dataset.index))
      return
    }
    const line = target.closest('line.msg') as SVGLineElement | null
    const message = line ? messageById.get(Number(line.dataset.id)) : undefined
    if (message) {
      const { send, end } = message
      byId('details').innerHTML = `<h2 id="selection">Message #${send.id}: ${esc(send.from)} → ${esc(send.to)} (${esc(send.kind)})</h2><p>${esc(send.summary)}</p><p>Sent ${ms(send.t)}; ${end ? (end.type === 'drop' ? `dropped ${ms(end.t)} (${esc(end.reason)})` : `received ${ms(end.t)}`) : 'still in flight when the run ended'}.</p>`
    }
  })
  byId('zoom-in').addEventListener('click', () => { scale *= 2; render() })
  byId('zoom-out').addEventListener('click', () => { scale /= 2; render() })
  byId('heartbeats').addEventListener('change', (event) => { showHeartbeats = (event.target as HTMLInputElement).checked; render() })
  window.addEventListener('hashchange', selectFromHash)
  render()
  selectFromHash()
}
