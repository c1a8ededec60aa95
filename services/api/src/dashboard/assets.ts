// The live dashboard's page, script and styles, kept as strings so the compiled api (dist/) serves
// them without copying files. The script builds every element with textContent (car answers are
// free text), talks only to the api's own /v1 routes, and needs no library: the chart is a canvas,
// the map an SVG (map-script.ts), the helpers in common-script.ts.

/** `tiles`: FLEET_API_MAP_TILES_URL (checked by its setting: no quotes or angle brackets). */
export const dashboardHtml = (tiles: string) => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>fleet · live</title>
<meta name="fleet-map-tiles" content="${tiles.replaceAll('&', '&amp;')}">
<link rel="icon" href="/dashboard/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/dashboard/app.css">
<script src="/dashboard/common.js" defer></script>
<script src="/dashboard/map.js" defer></script>
<script src="/dashboard/app.js" defer></script>
</head>
<body>
<header>
  <h1>fleet <span class="sub">live operations</span></h1>
  <span id="live" class="pill off" data-testid="live">connecting…</span>
</header>
<main>
  <section id="summary" class="cards" data-testid="summary">
    <div class="card"><span class="label">cars known</span><span class="value" id="s-known">–</span></div>
    <div class="card"><span class="label">online</span><span class="value" id="s-online">–</span></div>
    <div class="card"><span class="label">anomalous</span><span class="value warn" id="s-anomalous">–</span></div>
    <div class="card"><span class="label">messages/s</span><span class="value" id="s-rate">–</span></div>
    <div class="card"><span class="label">anomalies, last hour</span><span class="value" id="s-anomalies">–</span></div>
    <div class="card"><span class="label">commands in flight</span><span class="value" id="s-inflight">–</span></div>
  </section>
  <section class="panel wide">
    <h2>Messages/s and anomaly scores</h2>
    <canvas id="chart" width="1100" height="220" data-testid="chart"></canvas>
    <div class="legend"><span class="k rate"></span>messages/s <span class="k p95"></span>score p95 <span class="k max"></span>score max</div>
  </section>
  <section class="panel">
    <h2>Where the cars are <span class="sub">latest positions · click a car for its page</span></h2>
    <div id="map" class="map" data-testid="map"></div>
    <div class="legend"><span class="dot anomalous"></span>anomalous <span id="m-anomalous"></span> <span class="dot online"></span>online <span id="m-online"></span> <span class="dot offline"></span>offline <span id="m-offline"></span></div>
  </section>
  <section class="panel">
    <h2>Cars <span class="sub">riskiest first</span> <label class="inline"><input type="checkbox" id="only-online"> online only</label></h2>
    <table id="cars" data-testid="cars">
      <thead><tr><th>vehicle</th><th>state</th><th>score</th><th>failure</th><th>last seen</th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
  <section class="panel">
    <h2>Anomalies <span class="sub">live</span></h2>
    <ol id="anomalies" data-testid="anomalies"></ol>
  </section>
  <section class="panel">
    <h2>Send a command</h2>
    <form id="command-form" data-testid="command-form">
      <label>vehicle <input name="vehicleId" id="c-vehicle" required pattern="[A-Za-z0-9][A-Za-z0-9._\\-]{0,63}" placeholder="click a car" autocomplete="off"></label>
      <label>command
        <select name="type" id="c-type">
          <option>flash-lights</option><option>lock</option><option>unlock</option><option>request-diagnostics</option><option>set-telemetry-interval</option><option>ota-update</option>
        </select>
      </label>
      <label class="param" data-for="flash-lights">times <input name="times" type="number" min="1" max="20" value="3"></label>
      <label class="param" data-for="request-diagnostics">reason <input name="reason" maxlength="200"></label>
      <label class="param" data-for="set-telemetry-interval">interval ms <input name="intervalMs" type="number" min="1000" max="3600000" value="5000"></label>
      <label class="param" data-for="ota-update">version <input name="version" placeholder="1.2.3"></label>
      <label class="param" data-for="ota-update">url <input name="url" type="url" placeholder="https://…"></label>
      <label class="param" data-for="ota-update">sha256 <input name="sha256" placeholder="64 hex digits"></label>
      <label>TTL s <input name="ttlSeconds" type="number" min="5" max="604800" value="300"></label>
      <button type="submit" id="c-send">Send</button>
    </form>
    <p id="c-error" class="error" role="alert" data-testid="command-error"></p>
    <ul id="commands" data-testid="commands"></ul>
  </section>
</main>
</body>
</html>
`

export const DASHBOARD_CSS = `
:root { --bg: #0f1419; --panel: #182029; --line: #2a3440; --text: #e6edf3; --muted: #8b98a5; --ok: #3fb950; --warn: #f0883e; --bad: #f85149; --accent: #58a6ff; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; background: var(--bg); color: var(--text); }
header { display: flex; align-items: center; justify-content: space-between; padding: 12px 20px; border-bottom: 1px solid var(--line); }
h1 { margin: 0; font-size: 20px; } h2 { margin: 0 0 10px; font-size: 15px; }
.sub { color: var(--muted); font-weight: normal; font-size: 12px; }
main { display: grid; grid-template-columns: 1fr 1fr; gap: 14px; padding: 14px 20px; }
.cards { grid-column: 1 / -1; display: grid; grid-template-columns: repeat(6, 1fr); gap: 10px; }
.card, .panel { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 12px; }
.panel.wide { grid-column: 1 / -1; }
.label { display: block; color: var(--muted); font-size: 12px; }
.value { font-size: 26px; font-weight: 600; } .value.warn { color: var(--warn); }
canvas { width: 100%; height: 220px; display: block; }
.legend { color: var(--muted); font-size: 12px; margin-top: 4px; }
.k { display: inline-block; width: 14px; height: 3px; margin: 0 4px 3px 12px; vertical-align: middle; }
.k.rate { background: var(--accent); } .k.p95 { background: var(--warn); } .k.max { background: var(--bad); }
table { width: 100%; border-collapse: collapse; } th, td { text-align: left; padding: 5px 6px; border-bottom: 1px solid var(--line); }
th { color: var(--muted); font-weight: normal; font-size: 12px; }
tbody tr { cursor: pointer; } tbody tr:hover { background: #1f2a35; }
.pill { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; background: #30363d; }
.pill.on, .pill.acknowledged { background: #1f4f2c; color: #7ee787; }
.pill.off { background: #30363d; color: var(--muted); }
.pill.anomalous, .pill.rejected, .pill.failed, .pill.expired { background: #5a1e1e; color: #ffa198; }
.pill.pending, .pill.sent, .pill.delivered { background: #1c3a5e; color: #a5d6ff; }
.bar { display: inline-block; height: 8px; background: var(--accent); border-radius: 4px; vertical-align: middle; margin-right: 6px; }
.bar.hot { background: var(--bad); }
ol, ul { margin: 0; padding-left: 18px; max-height: 320px; overflow: auto; }
ol { list-style: none; padding-left: 0; }
li .n { display: inline-block; min-width: 2.6em; padding-right: 6px; text-align: right; color: var(--muted); font-variant-numeric: tabular-nums; }
a { color: var(--accent); text-decoration: none; } td.id a { white-space: nowrap; } a:hover { text-decoration: underline; }
.map svg { display: block; width: 100%; border-radius: 6px; }
.map circle.car { stroke: #0d1117; stroke-width: 1.5; cursor: pointer; }
.map circle.online, .dot.online { fill: var(--ok); background: var(--ok); }
.map circle.offline, .dot.offline { fill: #6e7681; background: #6e7681; }
.map circle.anomalous, .dot.anomalous { fill: var(--bad); background: var(--bad); }
.dot { display: inline-block; width: 9px; height: 9px; border-radius: 50%; margin: 0 4px 0 10px; }
li { padding: 3px 0; border-bottom: 1px solid var(--line); }
li .when { color: var(--muted); font-size: 12px; margin-right: 6px; }
form { display: flex; flex-wrap: wrap; gap: 8px; align-items: end; }
label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); }
label.inline { display: inline-flex; flex-direction: row; gap: 4px; float: right; }
input, select, button { font: inherit; padding: 5px 7px; background: #0d1117; color: var(--text); border: 1px solid var(--line); border-radius: 6px; }
input[type=number] { width: 90px; }
button { background: #238636; border-color: #2ea043; cursor: pointer; } button:disabled { opacity: .5; }
.param[hidden] { display: none; }
.error { color: var(--bad); min-height: 1em; margin: 6px 0; }
.steps { color: var(--muted); font-size: 12px; margin-left: 6px; }
@media (max-width: 900px) { main { grid-template-columns: 1fr; } .cards { grid-template-columns: repeat(3, 1fr); } }
`

export const DASHBOARD_JS = String.raw`'use strict'
// fleet dashboard: summary, chart, cars, anomalies and commands from the api's /v1 routes.
;(function () {
  var F = window.fleet
  var $ = F.$, el = F.el, fmt = F.fmt, time = F.time, getJson = F.getJson

  // ---- summary and chart ----
  var history = []
  function showSummary (s) {
    if (!s) return
    $('s-known').textContent = fmt(s.vehicles.known, 0)
    $('s-online').textContent = fmt(s.vehicles.online, 0)
    $('s-anomalous').textContent = fmt(s.vehicles.anomalous, 0)
    $('s-rate').textContent = fmt(s.messagesPerSecond)
    $('s-anomalies').textContent = fmt(s.anomalies.lastHour, 0)
    $('s-inflight').textContent = fmt(s.commandsInFlight, 0)
  }
  function addSample (s) {
    if (history.length && history[history.length - 1].at === s.at) return
    history.push(s)
    if (history.length > 120) history.shift()
    drawChart()
  }
  function drawChart () {
    var cv = F.canvas2d($('chart'), 1100, 220)
    var g = cv.g, w = cv.w, h = cv.h
    var pad = { l: 48, r: 48, t: 10, b: 22 }
    var pts = history
    var maxRate = 1, maxScore = 1
    pts.forEach(function (s) {
      maxRate = Math.max(maxRate, s.messagesPerSecond || 0)
      maxScore = Math.max(maxScore, s.scores.max || 0, s.scores.p95 || 0)
    })
    maxRate *= 1.15; maxScore *= 1.15
    g.strokeStyle = '#2a3440'; g.fillStyle = '#8b98a5'; g.font = '11px system-ui'; g.lineWidth = 1
    for (var i = 0; i <= 4; i++) {
      var y = pad.t + (h - pad.t - pad.b) * i / 4
      g.beginPath(); g.moveTo(pad.l, y); g.lineTo(w - pad.r, y); g.stroke()
      g.textAlign = 'right'; g.fillText(fmt(maxRate * (1 - i / 4), 0), pad.l - 6, y + 4)
      g.textAlign = 'left'; g.fillText(fmt(maxScore * (1 - i / 4), 2), w - pad.r + 6, y + 4)
    }
    if (pts.length > 1) {
      g.textAlign = 'left'; g.fillText(time(pts[0].at), pad.l, h - 6)
      g.textAlign = 'right'; g.fillText(time(pts[pts.length - 1].at), w - pad.r, h - 6)
    }
    function line (pick, max, color) {
      g.strokeStyle = color; g.lineWidth = 2; g.beginPath()
      var started = false
      pts.forEach(function (s, i) {
        var v = pick(s)
        if (v === null || v === undefined) return
        var x = pad.l + (w - pad.l - pad.r) * (pts.length === 1 ? 1 : i / (pts.length - 1))
        var y = pad.t + (h - pad.t - pad.b) * (1 - v / max)
        if (!started) { g.moveTo(x, y); started = true } else g.lineTo(x, y)
      })
      g.stroke()
    }
    line(function (s) { return s.messagesPerSecond }, maxRate, '#58a6ff')
    line(function (s) { return s.scores.p95 }, maxScore, '#f0883e')
    line(function (s) { return s.scores.max }, maxScore, '#f85149')
  }

  // ---- cars ----
  function loadCars () {
    var q = '/v1/vehicles?sort=score&limit=25' + ($('only-online').checked ? '&online=true' : '')
    return getJson(q).then(function (page) {
      if (page.items.length === 0) return getJson('/v1/vehicles?limit=25' + ($('only-online').checked ? '&online=true' : ''))
      return page
    }).then(function (page) {
      var body = $('cars').tBodies[0]
      body.textContent = ''
      page.items.forEach(function (v) {
        var tr = el('tr')
        tr.dataset.vehicle = v.vehicleId
        var idCell = el('td', 'id')
        var link = el('a', null, v.vehicleId)
        link.href = F.carUrl(v.vehicleId)
        link.addEventListener('click', function (ev) { ev.stopPropagation() })
        idCell.appendChild(link)
        tr.appendChild(idCell)
        var st = el('td')
        st.appendChild(el('span', 'pill ' + (v.online ? 'on' : 'off'), v.online ? 'online' : 'offline'))
        if (v.anomalous) { st.appendChild(document.createTextNode(' ')); st.appendChild(el('span', 'pill anomalous', 'anomalous')) }
        if (v.revoked) { st.appendChild(document.createTextNode(' ')); st.appendChild(el('span', 'pill failed', 'revoked')) }
        tr.appendChild(st)
        var sc = el('td')
        if (v.score !== null) {
          var bar = el('span', 'bar' + (v.anomalous ? ' hot' : ''))
          bar.style.width = Math.min(120, Math.max(2, 60 * v.score / (v.threshold || 1))) + 'px'
          sc.appendChild(bar)
          sc.appendChild(document.createTextNode(fmt(v.score, 3)))
        } else sc.textContent = '–'
        tr.appendChild(sc)
        tr.appendChild(el('td', null, v.failureMode || ''))
        tr.appendChild(el('td', null, time(v.lastSeenAt)))
        tr.addEventListener('click', function () { $('c-vehicle').value = v.vehicleId; $('c-vehicle').focus() })
        body.appendChild(tr)
      })
    }).catch(function (e) { console.warn('cars', e) })
  }

  // ---- anomalies ----
  function showAnomaly (a, atTop) {
    var li = el('li')
    li.appendChild(el('span', 'when', time(a.scoredAt)))
    var who = el('a', null, a.vehicleId)
    who.href = F.carUrl(a.vehicleId)
    li.appendChild(who)
    li.appendChild(document.createTextNode(' score ' + fmt(a.score, 3) + ' > ' + fmt(a.threshold, 3) + (a.failureModeGuess ? ' · likely ' + a.failureModeGuess : '')))
    var list = $('anomalies')
    if (atTop) list.insertBefore(li, list.firstChild); else list.appendChild(li)
    while (list.children.length > 100) list.removeChild(list.lastChild)
    F.renumber(list)
  }

  // ---- map ----
  var tiles = (document.querySelector('meta[name=fleet-map-tiles]') || {}).content || ''
  var positions = []
  function drawMap () { window.fleetMap.draw($('map'), positions, { tiles: tiles }) }
  function loadMap () {
    return getJson('/v1/fleet/positions?limit=2000').then(function (r) {
      positions = r.items
      var n = { anomalous: 0, online: 0, offline: 0 }
      positions.forEach(function (c) { n[c.anomalous ? 'anomalous' : c.online ? 'online' : 'offline']++ })
      $('m-anomalous').textContent = n.anomalous; $('m-online').textContent = n.online; $('m-offline').textContent = n.offline
      drawMap()
    }).catch(function (e) { console.warn('map', e) })
  }

  // ---- commands ----
  var followed = {}
  function showCommand (r) {
    var li = followed[r.commandId]
    if (!li) {
      li = el('li')
      li.dataset.command = r.commandId
      followed[r.commandId] = li
      $('commands').insertBefore(li, $('commands').firstChild)
    }
    li.textContent = ''
    li.appendChild(el('span', 'when', time(r.createdAt)))
    li.appendChild(el('strong', null, r.type))
    li.appendChild(document.createTextNode(' → ' + r.vehicleId + ' '))
    var badge = el('span', 'pill ' + r.status, r.status)
    badge.dataset.testid = 'command-status'
    li.appendChild(badge)
    li.appendChild(el('span', 'steps', r.history.map(function (s) { return s.status }).join(' → ') + (r.detail ? ' · ' + r.detail : '')))
  }
  function follow (r) {
    showCommand(r)
    var url = '/v1/vehicles/' + encodeURIComponent(r.vehicleId) + '/commands/' + encodeURIComponent(r.commandId)
    var es = new EventSource(url + '/events')
    es.addEventListener('command', function (ev) {
      var rec = JSON.parse(ev.data)
      showCommand(rec)
      if (['acknowledged', 'rejected', 'failed', 'expired'].indexOf(rec.status) >= 0) {
        es.close()
        // a step that arrives after the final one (the broker's delivered, typically) still fills the history
        setTimeout(function () { getJson(url).then(showCommand).catch(function () {}) }, 1500)
      }
    })
    es.onerror = function () { if (es.readyState === 2) return; es.close() }
  }
  function syncParams () {
    var type = $('c-type').value
    Array.prototype.forEach.call(document.querySelectorAll('.param'), function (p) { p.hidden = p.dataset.for !== type })
  }
  function body (form) {
    var type = form.type.value
    var params = {}
    if (type === 'flash-lights') params.times = Number(form.times.value)
    if (type === 'request-diagnostics' && form.reason.value) params.reason = form.reason.value
    if (type === 'set-telemetry-interval') params.intervalMs = Number(form.intervalMs.value)
    if (type === 'ota-update') { params.version = form.version.value; params.url = form.url.value; params.sha256 = form.sha256.value.trim().toLowerCase() }
    var b = { type: type, ttlSeconds: Number(form.ttlSeconds.value) }
    if (Object.keys(params).length) b.params = params
    return b
  }
  function send (ev) {
    ev.preventDefault()
    var form = ev.target
    $('c-error').textContent = ''
    $('c-send').disabled = true
    var key = (window.crypto && crypto.randomUUID) ? crypto.randomUUID() : String(Date.now()) + Math.random()
    fetch('/v1/vehicles/' + encodeURIComponent(form.vehicleId.value) + '/commands', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': key },
      body: JSON.stringify(body(form))
    }).then(function (r) {
      return r.json().then(function (b) {
        if (!r.ok) throw new Error(b.detail || r.statusText)
        follow(b)
      })
    }).catch(function (e) { $('c-error').textContent = e.message })
      .then(function () { $('c-send').disabled = false })
  }

  // ---- live stream ----
  function connect () {
    var es = new EventSource('/v1/stream')
    es.onopen = function () { $('live').textContent = 'live'; $('live').className = 'pill on' }
    es.onerror = function () { $('live').textContent = 'reconnecting…'; $('live').className = 'pill off' }
    es.addEventListener('summary', function (ev) { var s = JSON.parse(ev.data); showSummary(s); addSample(s) })
    es.addEventListener('anomaly', function (ev) { showAnomaly(JSON.parse(ev.data), true) })
  }

  document.addEventListener('DOMContentLoaded', function () {
    syncParams()
    $('c-type').addEventListener('change', syncParams)
    $('command-form').addEventListener('submit', send)
    $('only-online').addEventListener('change', loadCars)
    getJson('/v1/fleet/summary').then(function (s) { s.history.forEach(addSample); showSummary(s.latest) }).catch(function (e) { console.warn(e) })
    getJson('/v1/anomalies?limit=30').then(function (l) { l.items.forEach(function (a) { showAnomaly(a, false) }) }).catch(function (e) { console.warn(e) })
    loadCars()
    loadMap()
    setInterval(loadCars, 5000)
    setInterval(loadMap, 5000)
    window.addEventListener('resize', function () { drawChart(); drawMap() })
    connect()
  })
})()
`
