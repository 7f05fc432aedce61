/** Prints rows (objects with the same keys) as an aligned text table. */
export function formatTable(rows) {
  if (rows.length === 0) return '(no rows)'
  const keys = Object.keys(rows[0])
  const cells = [keys, ...rows.map((r) => keys.map((k) => formatCell(r[k])))]
  const widths = keys.map((_, i) => Math.max(...cells.map((row) => String(row[i]).length)))
  const line = (row) => row.map((c, i) => (typeof c === 'number' || /^[\d.,]+$/.test(String(c)) ? String(c).padStart(widths[i]) : String(c).padEnd(widths[i]))).join('  ')
  return [line(cells[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n')
}

function formatCell(value) {
  if (typeof value === 'number') return Number.isInteger(value) ? value.toLocaleString('en-US') : value.toFixed(2)
  return String(value)
}

/** Prints a benchmark's table, then its results as one JSON line. */
export function report(name, rows, extra = {}) {
  console.log(`\n${name}\n${formatTable(rows)}`)
  console.log(JSON.stringify({ benchmark: name, ...extra, results: rows }))
}

/** Facts about the machine, recorded with every result. */
export async function machineInfo() {
  const os = await import('node:os')
  return { node: process.version, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', memoryGiB: Math.round(os.totalmem() / 2 ** 30) }
}

/**
 * The speed of this machine's CPU right now, for comparing runs: microseconds for a fixed piece of JavaScript (2,000
 * small objects made and read), the median of 301 runs after 2,000 of warm-up. On the project's shared 2-core virtual
 * machine it read 23–54 µs within one hour, sometimes within seconds.
 */
export function cpuProbe() {
  const unit = () => {
    let total = 0
    const list = []
    for (let i = 0; i < 2000; i++) {
      list.push({ i, key: `k${i}` })
      total += list[i].key.length
    }
    return total
  }
  let sink = 0
  for (let i = 0; i < 2000; i++) sink += unit()
  const times = []
  for (let i = 0; i < 301; i++) {
    const started = performance.now()
    sink += unit()
    times.push(performance.now() - started)
  }
  times.sort((a, b) => a - b)
  if (sink < 0) throw new Error('unreachable')
  return Math.round(times[150] * 1000 * 10) / 10
}
