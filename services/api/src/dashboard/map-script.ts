// The fleet map (window.fleetMap): cars from /v1/fleet/positions on an SVG in web-mercator
// projection, framed on the fleet's bounding box, coloured by state. With map tiles configured
// (FLEET_API_MAP_TILES_URL, handed over in <meta name="fleet-map-tiles">) the tiles of the
// matching zoom lie under the cars; without, a graticule does, and nothing needs the network.
export const MAP_JS = String.raw`'use strict'
;(function () {
  var NS = 'http://www.w3.org/2000/svg'
  var TILE = 256
  function svg (tag, attrs) {
    var e = document.createElementNS(NS, tag)
    for (var k in attrs) e.setAttribute(k, String(attrs[k]))
    return e
  }
  // world pixels at zoom 0 (256 × 256 for the whole world)
  function project (lat, lon) {
    var phi = Math.max(-85.05, Math.min(85.05, lat)) * Math.PI / 180
    return [(lon + 180) / 360 * TILE, (1 - Math.log(Math.tan(Math.PI / 4 + phi / 2)) / Math.PI) / 2 * TILE]
  }
  function unprojectLat (y) { return Math.atan(Math.sinh(Math.PI * (1 - 2 * y / TILE))) * 180 / Math.PI }
  function niceStep (span) {
    var raw = span / 4
    var p = Math.pow(10, Math.floor(Math.log10(raw)))
    var m = raw / p
    return (m < 2 ? 1 : m < 5 ? 2 : 5) * p
  }
  function stateOf (c) { return c.anomalous ? 'anomalous' : c.online ? 'online' : 'offline' }

  function draw (box, items, opts) {
    var W = box.clientWidth || 560
    var H = Math.round(Math.max(260, Math.min(420, W * 0.62)))
    var tiles = (opts && opts.tiles) || ''
    var root = svg('svg', { width: W, height: H, viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': 'map of the fleet' })
    root.appendChild(svg('rect', { x: 0, y: 0, width: W, height: H, fill: '#0d1117' }))
    if (items.length === 0) {
      var t = svg('text', { x: W / 2, y: H / 2, fill: '#8b98a5', 'text-anchor': 'middle', 'font-size': 13 })
      t.textContent = 'no scored car has a position yet'
      root.appendChild(t)
      box.textContent = ''; box.appendChild(root)
      return
    }
    var pts = items.map(function (c) { return project(c.lat, c.lon) })
    var minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity
    pts.forEach(function (p) { minX = Math.min(minX, p[0]); maxX = Math.max(maxX, p[0]); minY = Math.min(minY, p[1]); maxY = Math.max(maxY, p[1]) })
    // at least ~2 km across, and a margin around the fleet
    var minSpan = 0.0125
    var cx = (minX + maxX) / 2, cy = (minY + maxY) / 2
    var sw = Math.max(maxX - minX, minSpan) * 1.15, sh = Math.max(maxY - minY, minSpan) * 1.15
    var scale = Math.min((W - 24) / sw, (H - 24) / sh)
    var ox = W / 2 - cx * scale, oy = H / 2 - cy * scale
    var X = function (x) { return ox + x * scale }, Y = function (y) { return oy + y * scale }
    var west = -ox / scale, east = (W - ox) / scale, north = -oy / scale, south = (H - oy) / scale

    if (tiles) {
      var z = Math.max(0, Math.min(19, Math.floor(Math.log2(scale))))
      var n = Math.pow(2, z), size = TILE / n
      for (var ty = Math.max(0, Math.floor(north / size)); ty <= Math.min(n - 1, Math.floor(south / size)); ty++) {
        for (var tx = Math.floor(west / size); tx <= Math.floor(east / size); tx++) {
          var wx = ((tx % n) + n) % n
          var href = tiles.replace('{z}', z).replace('{x}', wx).replace('{y}', ty)
          root.appendChild(svg('image', { href: href, x: X(tx * size), y: Y(ty * size), width: size * scale + 0.5, height: size * scale + 0.5, opacity: 0.75 }))
        }
      }
    } else {
      // graticule with degree labels: a plain projection, no tiles, no network
      var lonStep = niceStep((east - west) / TILE * 360)
      var latN = unprojectLat(north), latS = unprojectLat(south)
      var latStep = niceStep(latN - latS)
      var digits = Math.max(0, -Math.floor(Math.log10(Math.min(lonStep, latStep))))
      for (var lon = Math.ceil((west / TILE * 360 - 180) / lonStep) * lonStep; lon <= east / TILE * 360 - 180; lon += lonStep) {
        var gx = X((lon + 180) / 360 * TILE)
        root.appendChild(svg('line', { x1: gx, y1: 0, x2: gx, y2: H, stroke: '#222c36' }))
        var lt = svg('text', { x: gx + 3, y: H - 5, fill: '#6e7b88', 'font-size': 10 }); lt.textContent = lon.toFixed(digits) + '°'; root.appendChild(lt)
      }
      for (var lat = Math.ceil(latS / latStep) * latStep; lat <= latN; lat += latStep) {
        var gy = Y(project(lat, 0)[1])
        root.appendChild(svg('line', { x1: 0, y1: gy, x2: W, y2: gy, stroke: '#222c36' }))
        var at = svg('text', { x: 4, y: gy - 3, fill: '#6e7b88', 'font-size': 10 }); at.textContent = lat.toFixed(digits) + '°'; root.appendChild(at)
      }
    }
    // anomalous cars last, so they are drawn on top
    var order = items.map(function (c, i) { return i }).sort(function (a, b) { return (items[a].anomalous ? 1 : 0) - (items[b].anomalous ? 1 : 0) })
    order.forEach(function (i) {
      var c = items[i], s = stateOf(c)
      var a = svg('a', { href: window.fleet.carUrl(c.vehicleId) })
      var dot = svg('circle', { cx: X(pts[i][0]), cy: Y(pts[i][1]), r: s === 'anomalous' ? 7 : 5, class: 'car ' + s, 'data-vehicle': c.vehicleId, 'data-state': s })
      var title = svg('title', {})
      title.textContent = c.vehicleId + ' · ' + s + (c.score === null ? '' : ' · score ' + window.fleet.fmt(c.score, 2)) + (c.failureMode ? ' · likely ' + c.failureMode : '')
      dot.appendChild(title)
      a.appendChild(dot)
      root.appendChild(a)
    })
    box.textContent = ''
    box.appendChild(root)
  }
  window.fleetMap = { draw: draw, project: project }
})()
`
