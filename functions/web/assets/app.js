// berth's dashboard script: what the server-rendered pages gain with script on. Every page reads
// whole without it. Plain JavaScript, no build step, no dependency; CSP allows only this file.
'use strict'

/** One event as one log line: the same words as the page's server-rendered lines (job.tsx). */
function line(e) {
  const at = typeof e.t === 'number' ? new Date(e.t).toISOString().slice(11, 23) : ''
  const node = e.node ? `[${e.node}] ` : ''
  if (e.type === 'step')
    return `${at} ${node}${e.step} ${e.state}${e.ms !== undefined ? ` (${e.ms} ms)` : ''}${e.msg ? `: ${e.msg}` : ''}`
  if (e.type === 'result') return `${at} result: ${e.ok ? 'ok' : `failed: ${e.message || ''}`}`
  return `${at} ${node}${e.msg || ''}`
}

/** The clusters table narrowed as the filter is typed (the form filters on the server too). */
function filter() {
  const input = document.querySelector('input[data-filter]')
  if (!input) return
  const apply = () => {
    for (const row of document.querySelectorAll(input.dataset.filter))
      row.hidden = !row.dataset.cluster.includes(input.value.trim())
  }
  input.addEventListener('input', apply)
}

/** Running counts and health of the clusters table, read again every 10 s. */
function liveClusters() {
  const table = document.querySelector('table[data-live]')
  if (!table) return
  const refresh = async () => {
    try {
      const res = await fetch(table.dataset.live, { headers: { accept: 'application/json' } })
      if (!res.ok) return
      const { clusters } = await res.json()
      for (const c of clusters) {
        const row = table.querySelector(`tr[data-cluster="${CSS.escape(c.cluster)}"]`)
        if (!row) continue
        row.querySelector('[data-field="running"]').textContent = `${c.running}/${c.nodes}`
        const health = c.running === c.nodes ? 'up' : c.running === 0 ? 'stopped' : 'degraded'
        const badge = row.querySelector('[data-field="health"] .badge')
        badge.textContent = health
        badge.className = `badge s-${health}`
      }
    } catch {
      // The next round tries again.
    }
  }
  setInterval(refresh, 10_000)
}

/** A destructive button stays disabled until the cluster's name is typed (the server checks too). */
function confirmations() {
  for (const input of document.querySelectorAll('input[data-must-equal]')) {
    const button = input.form.querySelector('button[data-enable-when]')
    const sync = () => (button.disabled = input.value.trim() !== input.dataset.mustEqual)
    input.addEventListener('input', sync)
    sync()
  }
}

/**
 * A running job followed over Server-Sent Events: lines appended, the timeline redrawn (asked of
 * the server, which draws it), the state and result read again once the job ends. A cut stream reconnects by
 * itself from the last event id (EventSource sends Last-Event-ID), and a line already shown is
 * never shown twice.
 */
function followJob() {
  const log = document.getElementById('log')
  if (!log || !log.dataset.events) return
  const tools = document.querySelector('.log-tools')
  const follow = document.getElementById('follow')
  let following = true
  tools.hidden = false
  follow.addEventListener('click', () => {
    following = !following
    follow.setAttribute('aria-pressed', String(following))
    follow.textContent = following ? 'Following: pause' : 'Paused: follow'
    if (following) log.scrollTop = log.scrollHeight
  })
  const spans = log.querySelectorAll('span[data-seq]')
  let last = spans.length ? Number(spans[spans.length - 1].dataset.seq) : 0
  const timeline = document.getElementById('timeline')
  let redraw = null
  const drawSoon = () => {
    if (redraw) return
    redraw = setTimeout(async () => {
      redraw = null
      try {
        const res = await fetch(timeline.dataset.src)
        // Redirected: the session ended (the sign-in page is not a timeline).
        if (res.ok && !res.redirected) timeline.innerHTML = await res.text()
      } catch {
        // Drawn again with the next event.
      }
    }, 300)
  }
  const source = new EventSource(log.dataset.events)
  source.addEventListener('job', (m) => {
    const seq = Number(m.lastEventId)
    if (!(seq > last)) return
    last = seq
    const span = document.createElement('span')
    span.dataset.seq = String(seq)
    span.textContent = line(JSON.parse(m.data)) + '\n'
    log.append(span)
    if (following) log.scrollTop = log.scrollHeight
    drawSoon()
  })
  // The job ended: its state, result and final timeline are read from its page again; the log
  // stays as it was followed.
  source.addEventListener('end', async () => {
    source.close()
    try {
      const res = await fetch(location.href)
      if (!res.ok || res.redirected) throw new Error('the page could not be read again')
      const doc = new DOMParser().parseFromString(await res.text(), 'text/html')
      for (const id of ['job-state', 'job-facts', 'timeline', 'result', 'job-actions']) {
        const now = document.getElementById(id)
        const next = doc.getElementById(id)
        if (now && next) now.replaceWith(document.adoptNode(next))
        else if (now) now.remove()
      }
    } catch {
      location.reload()
    }
    document.body.dataset.jobEnded = 'true'
  })
  source.addEventListener('revoked', () => {
    source.close()
    log.insertAdjacentText('beforeend', 'The session’s token was revoked: sign in again.\n')
  })
}

filter()
liveClusters()
confirmations()
followJob()
