// Rewrites docs/conformance.md's table (between the conformance markers) from the last run of
// test/conformance.test.ts (results/tmp/conformance.json), which it keeps as results/conformance.json.
// `npm run docs:conformance`.
import { readFileSync, writeFileSync } from 'node:fs'
import { DOC_FILE, RESULTS_FILE, RUN_FILE, renderTable, replaceTable, rowsFromResults, type ResultsFile } from './table.js'

const root = new URL('../..', import.meta.url).pathname
let results: ResultsFile
try {
  results = JSON.parse(readFileSync(`${root}/${RUN_FILE}`, 'utf8')) as ResultsFile
} catch (err) {
  console.error(`no ${RUN_FILE}: run the suite first (bash scripts/test.sh test/conformance.test.ts): ${(err as Error).message}`)
  process.exit(1)
}
const rows = rowsFromResults(results.rows)
const failed = rows.filter(r => r.fleet === 'fail' || r.mosquitto === 'fail')
if (failed.length > 0) console.warn(`warning: ${failed.length} feature(s) FAILED in the last run; the table shows them so`)
writeFileSync(`${root}/${RESULTS_FILE}`, JSON.stringify(results, null, 2) + '\n')
const path = `${root}/${DOC_FILE}`
const readme = readFileSync(path, 'utf8')
const next = replaceTable(readme, renderTable(rows, results.mosquitto))
writeFileSync(path, next)
console.log(next === readme ? `${DOC_FILE} table unchanged` : `${DOC_FILE} table updated`)
