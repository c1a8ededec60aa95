// Chart images of benchmark results: a Vega-Lite spec rendered to SVG in Node (no browser, no
// canvas; text widths are estimated), written next to the JSON results and linked from docs/benchmarks.md.
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import * as vega from 'vega'
import { compile, type TopLevelSpec } from 'vega-lite'

export async function writeChart (path: string, spec: TopLevelSpec): Promise<void> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' })
  const svg = await view.toSVG()
  view.finalize()
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, svg)
}
