// docs/conformance.md's table: made from the last run (results/tmp/conformance.json, copied to
// results/conformance.json) by `npm run docs:conformance`,
// checked against the scenario list by test/conformance.test.ts.
import type { Result } from './scenarios.js'

export const START = '<!-- conformance:start -->'
export const END = '<!-- conformance:end -->'
export const RESULTS_FILE = 'results/conformance.json'
/** Where a test run writes its results (git-ignored: running the tests changes no tracked file). */
export const RUN_FILE = 'results/tmp/conformance.json'
export const DOC_FILE = 'docs/conformance.md'

export interface Row {
  feature: string
  clients: string[]
  fleet: Result | 'fail'
  mosquitto: Result | 'fail'
  note: string
}

/** One row per (feature, client) as the suite writes them. */
export interface ResultRow {
  feature: string
  client: string
  fleet: Result | 'fail'
  mosquitto: Result | 'fail'
  note: string
  fleetDetail?: string
  mosquittoDetail?: string
}

export interface ResultsFile { mosquitto: string, rows: ResultRow[] }

const cell = (r: Row['fleet'], onPurpose: boolean) => r === 'pass' ? '✅ yes' : r === 'differs' ? (onPurpose ? '⚠️ differs on purpose' : '⚠️ differs') : '❌ FAILED'
const esc = (s: string) => s.replaceAll('|', '\\|')

/** Rows per feature, in the order first seen; a feature's result is its worst over clients. */
export function rowsFromResults (results: ResultRow[]): Row[] {
  const rows = new Map<string, Row>()
  const worst = (a: Row['fleet'], b: Row['fleet']) => [a, b].includes('fail') ? 'fail' : [a, b].includes('differs') ? 'differs' : 'pass'
  for (const r of results) {
    const row = rows.get(r.feature)
    if (row === undefined) {
      rows.set(r.feature, { feature: r.feature, clients: [r.client], fleet: r.fleet, mosquitto: r.mosquitto, note: r.note })
    } else {
      row.clients.push(r.client)
      row.fleet = worst(row.fleet, r.fleet)
      row.mosquitto = worst(row.mosquitto, r.mosquitto)
    }
  }
  return [...rows.values()]
}

export function renderTable (rows: Row[], mosquittoVersion: string): string {
  return [
    `| MQTT feature (3.1.1 unless it says MQTT 5) | checked with | fleet | Mosquitto ${mosquittoVersion} | note |`,
    '|---|---|---|---|---|',
    ...rows.map(r => `| ${esc(r.feature)} | ${r.clients.join(', ')} | ${cell(r.fleet, true)} | ${cell(r.mosquitto, false)} | ${esc(r.note)} |`)
  ].join('\n')
}

/** The doc's text between the markers, or null when they are missing. */
export function tableInReadme (readme: string): string | null {
  const a = readme.indexOf(START)
  const b = readme.indexOf(END)
  if (a < 0 || b < a) return null
  return readme.slice(a + START.length, b).trim()
}

export function replaceTable (readme: string, table: string): string {
  const a = readme.indexOf(START)
  const b = readme.indexOf(END)
  if (a < 0 || b < a) throw new Error(`${DOC_FILE} has no ${START} … ${END} block`)
  return `${readme.slice(0, a + START.length)}\n${table}\n${readme.slice(b)}`
}
