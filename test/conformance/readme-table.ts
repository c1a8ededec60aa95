// Rewrites README's MQTT conformance table (between the conformance markers) from the last run of
// test/conformance.test.ts (results/conformance.json). `npm run docs:conformance`.
import { readFileSync, writeFileSync } from 'node:fs'
import { RESULTS_FILE, renderTable, replaceTable, rowsFromResults, type ResultsFile } from './table.js'

const root = new URL('../..', import.meta.url).pathname
let results: ResultsFile
try {
  results = JSON.parse(readFileSync(`${root}/${RESULTS_FILE}`, 'utf8')) as ResultsFile
} catch (err) {
  console.error(`no ${RESULTS_FILE}: run the suite first (bash scripts/test.sh test/conformance.test.ts): ${(err as Error).message}`)
  process.exit(1)
}
const rows = rowsFromResults(results.rows)
const failed = rows.filter(r => r.fleet === 'fail' || r.mosquitto === 'fail')
if (failed.length > 0) console.warn(`warning: ${failed.length} feature(s) FAILED in the last run; the table shows them so`)
const path = `${root}/README.md`
const readme = readFileSync(path, 'utf8')
const next = replaceTable(readme, renderTable(rows, results.mosquitto))
writeFileSync(path, next)
console.log(next === readme ? 'README conformance table unchanged' : 'README conformance table updated')
