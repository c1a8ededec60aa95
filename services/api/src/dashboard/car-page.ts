// The car page (/dashboard/cars/{id}): why is this car flagged. Its state, score against the
// threshold over the last minutes, the signals the scorer kept for it (those behind its score or
// its likely failure first and marked), the features carrying the score, its anomalies and its
// commands. Same rules as the fleet page: textContent only, the api's own /v1 routes.
export const CAR_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>fleet · car</title>
<link rel="icon" href="/dashboard/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/dashboard/app.css">
<script src="/dashboard/common.js" defer></script>
<script src="/dashboard/car.js" defer></script>
</head>
<body>
<header>
  <h1><a href="/dashboard">fleet</a> <span class="sub">car</span> <span id="car-id" data-testid="car-id"></span></h1>
  <span id="car-state" data-testid="car-state"></span>
</header>
<main>
  <p id="car-error" class="error panel wide" role="alert" data-testid="car-error" hidden></p>
  <section class="cards" data-testid="car-summary">
    <div class="card"><span class="label">score / threshold</span><span class="value" id="c-score">–</span></div>
    <div class="card"><span class="label">likely failure</span><span class="value warn small" id="c-failure">–</span></div>
    <div class="card"><span class="label">last scored</span><span class="value small" id="c-seen">–</span></div>
    <div class="card"><span class="label">position</span><span class="value small" id="c-pos">–</span></div>
    <div class="card"><span class="label">broker</span><span class="value small" id="c-broker">–</span></div>
    <div class="card"><span class="label">model</span><span class="value small" id="c-model">–</span></div>
  </section>
  <section class="panel wide">
    <h2>Anomaly score <span class="sub">smoothed, against the threshold (dashed), last minutes</span></h2>
    <canvas id="score-chart" class="tall" data-testid="score-chart"></canvas>
  </section>
  <section class="panel wide">
    <h2>Signals <span class="sub">marked: behind the score or the likely failure</span></h2>
    <div id="signals" class="signals" data-testid="signals"></div>
  </section>
  <section class="panel">
    <h2>Features carrying the score <span class="sub">mean share over the anomalous points</span></h2>
    <ul id="features" class="features" data-testid="features"></ul>
  </section>
  <section class="panel">
    <h2>Anomalies <span class="sub">newest first</span></h2>
    <ol id="car-anomalies" data-testid="car-anomalies"></ol>
  </section>
  <section class="panel wide">
    <h2>Commands <span class="sub">newest first</span></h2>
    <ul id="car-commands" data-testid="car-commands"></ul>
  </section>
</main>
</body>
</html>
`

export const CAR_JS = String.raw`'use strict'
;(function () {
  var F = window.fleet
  var $ = F.$, el = F.el, fmt = F.fmt, time = F.time, getJson = F.getJson
  var id = decodeURIComponent(location.pathname.split('/').pop() || '')
  var base = '/v1/vehicles/' + encodeURIComponent(id)
  var LABELS = { speedMps: 'speed m/s', rpm: 'rpm', coolantTempC: 'coolant °C', engineVibrationMv: 'engine vibration mV', batteryVoltageMv: 'battery mV', currentDrawA: 'battery current A', intakeAirFlowGs: 'intake air flow g/s', tirePressureMinPsi: 'lowest tyre psi' }
  // the signals each failure mode moves (shared/src/vehicle-model.ts FAILURE_SIGNALS, as kept in the history)
  var MODE_SIGNALS = { coolant_leak: ['coolantTempC'], bearing_wear: ['engineVibrationMv'], battery_degradation: ['batteryVoltageMv', 'currentDrawA'], maf_sensor_drift: ['intakeAirFlowGs'], tyre_slow_puncture: ['tirePressureMinPsi'] }
  function signalOf (feature) {
    var f = feature.replace(/[|]/g, '').split('~')[0]
    if (/^tirePressure|^accel/.test(f)) return 'tirePressureMinPsi'
    if (f === 'batteryPct') return 'batteryVoltageMv'
    return f
  }
  var detail = null, history = null

  function pill (cls, text) { var p = el('span', 'pill ' + cls, text); return p }
  function showDetail (d) {
    detail = d
    $('car-id').textContent = d.vehicleId
    document.title = 'fleet · ' + d.vehicleId
    var st = $('car-state')
    st.textContent = ''
    st.appendChild(pill(d.online ? 'on' : 'off', d.online ? 'online' : 'offline'))
    if (d.anomalous) { st.appendChild(document.createTextNode(' ')); st.appendChild(pill('anomalous', 'anomalous')) }
    if (d.revoked) { st.appendChild(document.createTextNode(' ')); st.appendChild(pill('failed', 'revoked')) }
    $('c-score').textContent = fmt(d.score, 2) + ' / ' + fmt(d.threshold, 2)
    $('c-score').className = 'value' + (d.anomalous ? ' bad' : '')
    $('c-failure').textContent = d.failureMode || (d.anomalous ? 'unclear' : 'none')
    $('c-seen').textContent = time(d.scoredAt)
    $('c-pos').textContent = d.telemetry && typeof d.telemetry.lat === 'number' ? d.telemetry.lat.toFixed(4) + ', ' + d.telemetry.lon.toFixed(4) : '–'
    $('c-broker').textContent = d.brokerId || '–'
    $('c-model').textContent = d.modelVersion || '–'
    var list = $('car-anomalies')
    list.textContent = ''
    d.recentAnomalies.forEach(function (a) {
      var li = el('li')
      li.appendChild(el('span', 'when', time(a.scoredAt)))
      li.appendChild(document.createTextNode('score ' + fmt(a.score, 2) + ' > ' + fmt(a.threshold, 2) + (a.failureModeGuess ? ' · likely ' + a.failureModeGuess : '')))
      li.appendChild(el('span', 'steps', a.topFeatures.map(function (f) { return f.feature + ' ' + Math.round(f.share * 100) + '%' }).join(', ')))
      list.appendChild(li)
    })
    if (d.recentAnomalies.length === 0) list.appendChild(el('li', 'muted', 'none'))
    else F.renumber(list)
  }

  function marked () {
    var m = {}
    // a feature with a tenth of the score or more marks its signal
    if (history) history.features.forEach(function (f) { if (f.share >= 0.1) m[signalOf(f.feature)] = true })
    var mode = detail && detail.failureMode
    if (mode && MODE_SIGNALS[mode]) MODE_SIGNALS[mode].forEach(function (s) { m[s] = true })
    return m
  }
  function showHistory (h) {
    history = h
    var pts = h.points
    var anomalous = pts.filter(function (p) { return p.topFeatures !== null })
    F.lineChart($('score-chart'), [{ points: pts.map(function (p) { return [p.ts, p.score] }), color: '#f0883e' }, { points: pts.map(function (p) { return [p.ts, p.rowScore] }), color: '#58a6ff55', width: 1 }], { hline: h.threshold, yMin: 0, digits: 0 })
    var m = marked()
    var order = h.signals.slice().sort(function (a, b) { return (m[b] ? 1 : 0) - (m[a] ? 1 : 0) })
    var box = $('signals')
    box.textContent = ''
    order.forEach(function (s) {
      var cell = el('div', 'signal' + (m[s] ? ' marked' : ''))
      cell.dataset.signal = s
      var last = pts.length ? pts[pts.length - 1].signals[s] : null
      var head = el('div', 'signal-head')
      head.appendChild(el('span', null, LABELS[s] || s))
      head.appendChild(el('strong', null, fmt(last, 1)))
      cell.appendChild(head)
      var c = el('canvas')
      cell.appendChild(c)
      box.appendChild(cell)
      F.lineChart(c, [{ points: pts.map(function (p) { return [p.ts, p.signals[s]] }), color: m[s] ? '#f85149' : '#58a6ff', width: 1.5 }], { digits: 0 })
    })
    var fl = $('features')
    fl.textContent = ''
    var feats = (h.features.length ? h.features : (detail && detail.recentAnomalies[0] ? detail.recentAnomalies[0].topFeatures : [])).filter(function (f) { return f.share >= 0.01 })
    feats.forEach(function (f) {
      var li = el('li')
      var bar = el('span', 'bar hot')
      bar.style.width = Math.max(2, Math.round(160 * f.share)) + 'px'
      li.appendChild(bar)
      li.appendChild(el('span', null, f.feature + ' ' + Math.round(f.share * 100) + '%'))
      fl.appendChild(li)
    })
    if (feats.length === 0) fl.appendChild(el('li', 'muted', anomalous.length ? '–' : 'no anomalous point in the window: nothing stands out'))
  }
  function showCommands (page) {
    var list = $('car-commands')
    list.textContent = ''
    page.items.forEach(function (r) {
      var li = el('li')
      li.appendChild(el('span', 'when', time(r.createdAt)))
      li.appendChild(el('strong', null, r.type))
      li.appendChild(document.createTextNode(' '))
      li.appendChild(el('span', 'pill ' + r.status, r.status))
      li.appendChild(el('span', 'steps', (r.history || []).map(function (s) { return s.status }).join(' → ') + (r.detail ? ' · ' + r.detail : '')))
      list.appendChild(li)
    })
    if (page.items.length === 0) list.appendChild(el('li', 'muted', 'none'))
  }
  function fail (e) { $('car-error').hidden = false; $('car-error').textContent = e.message }
  function load () {
    return getJson(base).then(function (d) {
      showDetail(d)
      return Promise.all([
        getJson(base + '/history?points=180').then(showHistory),
        getJson(base + '/commands?limit=20').then(showCommands).catch(function () { showCommands({ items: [] }) })
      ])
    }).then(function () { $('car-error').hidden = true }, fail)
  }
  document.addEventListener('DOMContentLoaded', function () {
    load()
    setInterval(load, 5000)
    window.addEventListener('resize', function () { if (history) showHistory(history) })
  })
})()
`

export const CAR_CSS = `
.value.small { font-size: 16px; } .value.bad { color: var(--bad); }
canvas.tall { height: 200px; }
.signals { display: grid; grid-template-columns: repeat(4, 1fr); gap: 10px; }
.signal { border: 1px solid var(--line); border-radius: 6px; padding: 6px 8px; }
.signal.marked { border-color: var(--bad); }
.signal-head { display: flex; justify-content: space-between; font-size: 12px; color: var(--muted); }
.signal-head strong { color: var(--text); }
.signal canvas { height: 90px; }
.features li { list-style: none; }
.muted { color: var(--muted); }
header h1 a { color: var(--text); }
@media (max-width: 900px) { .signals { grid-template-columns: repeat(2, 1fr); } }
`

export const FAVICON_SVG = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#182029"/><circle cx="10" cy="20" r="4" fill="#3fb950"/><circle cx="22" cy="12" r="5" fill="#f85149"/></svg>'
