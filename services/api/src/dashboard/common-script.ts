// Helpers both dashboard pages load first (window.fleet): element building with textContent only,
// number and time formats, JSON fetch, and a small line chart on a canvas.
export const COMMON_JS = String.raw`'use strict'
;(function () {
  var $ = function (id) { return document.getElementById(id) }
  function el (tag, cls, text) {
    var e = document.createElement(tag)
    if (cls) e.className = cls
    if (text !== undefined && text !== null) e.textContent = String(text)
    return e
  }
  function fmt (n, digits) { return n === null || n === undefined ? '–' : Number(n).toLocaleString('en', { maximumFractionDigits: digits === undefined ? 1 : digits }) }
  function time (iso) { return iso ? new Date(iso).toLocaleTimeString('en-GB') : '–' }
  function getJson (url) {
    return fetch(url, { headers: { accept: 'application/json' } }).then(function (r) {
      return r.json().then(function (body) { if (!r.ok) throw new Error(body.detail || r.statusText); return body })
    })
  }
  function carUrl (id) { return '/dashboard/cars/' + encodeURIComponent(id) }
  // An ordered list numbered by the page (not by list markers, which an overflow box clips past 9).
  function renumber (list) {
    Array.prototype.forEach.call(list.children, function (li, i) {
      var n = li.querySelector('.n')
      if (!n) { n = el('span', 'n'); li.insertBefore(n, li.firstChild) }
      n.textContent = (i + 1) + '.'
    })
  }
  // series: [{ points: [[x, y]...], color, width }]; opts: { hline, hlineColor, yMin, digits, xLabels }
  // A cleared 2-D context at the canvas' CSS size, sharp on high-density screens.
  function canvas2d (c, defaultW, defaultH) {
    var dpr = window.devicePixelRatio || 1
    var w = c.clientWidth || defaultW
    var h = c.clientHeight || defaultH
    c.width = w * dpr; c.height = h * dpr
    var g = c.getContext('2d')
    g.setTransform(dpr, 0, 0, dpr, 0, 0)
    g.clearRect(0, 0, w, h)
    return { g: g, w: w, h: h }
  }
  function lineChart (c, series, opts) {
    opts = opts || {}
    var cv = canvas2d(c, 300, 120)
    var g = cv.g, w = cv.w, h = cv.h
    var pad = { l: 46, r: 8, t: 8, b: 18 }
    var xs = [], ys = []
    series.forEach(function (s) { s.points.forEach(function (p) { xs.push(p[0]); ys.push(p[1]) }) })
    if (opts.hline !== undefined && opts.hline !== null) ys.push(opts.hline)
    if (xs.length === 0) { g.fillStyle = '#8b98a5'; g.font = '12px system-ui'; g.fillText('no data yet', pad.l, h / 2); return }
    var x0 = Math.min.apply(null, xs), x1 = Math.max.apply(null, xs)
    var y0 = opts.yMin !== undefined ? opts.yMin : Math.min.apply(null, ys), y1 = Math.max.apply(null, ys)
    if (x1 === x0) x1 = x0 + 1
    var span = y1 - y0 || Math.abs(y1) || 1
    if (opts.yMin === undefined) y0 -= span * 0.08
    y1 += span * 0.08
    var X = function (x) { return pad.l + (w - pad.l - pad.r) * (x - x0) / (x1 - x0) }
    var Y = function (y) { return pad.t + (h - pad.t - pad.b) * (1 - (y - y0) / (y1 - y0)) }
    g.strokeStyle = '#2a3440'; g.fillStyle = '#8b98a5'; g.font = '11px system-ui'; g.lineWidth = 1
    for (var i = 0; i <= 2; i++) {
      var v = y0 + (y1 - y0) * i / 2
      g.beginPath(); g.moveTo(pad.l, Y(v)); g.lineTo(w - pad.r, Y(v)); g.stroke()
      g.textAlign = 'right'; g.fillText(fmt(v, opts.digits === undefined ? 1 : opts.digits), pad.l - 5, Y(v) + 4)
    }
    g.textAlign = 'left'; g.fillText(time(x0), pad.l, h - 4)
    g.textAlign = 'right'; g.fillText(time(x1), w - pad.r, h - 4)
    if (opts.hline !== undefined && opts.hline !== null) {
      g.strokeStyle = opts.hlineColor || '#f85149'; g.setLineDash([5, 4]); g.beginPath(); g.moveTo(pad.l, Y(opts.hline)); g.lineTo(w - pad.r, Y(opts.hline)); g.stroke(); g.setLineDash([])
    }
    series.forEach(function (s) {
      g.strokeStyle = s.color; g.lineWidth = s.width || 2; g.beginPath()
      s.points.forEach(function (p, k) { if (k === 0) g.moveTo(X(p[0]), Y(p[1])); else g.lineTo(X(p[0]), Y(p[1])) })
      g.stroke()
    })
  }
  window.fleet = { $: $, el: el, fmt: fmt, time: time, getJson: getJson, carUrl: carUrl, renumber: renumber, canvas2d: canvas2d, lineChart: lineChart }
})()
`
