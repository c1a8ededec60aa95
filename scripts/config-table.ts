// Rewrites docs/configuration.md's table (between the config markers) from the services' own
// setting declarations, so the table cannot drift from the code. `npm run docs:config`.
import { readFileSync, writeFileSync } from 'node:fs'
import { describeSpec } from '../services/shared/src/config.js'
import { brokerSettings } from '../services/broker/src/broker-config.js'
import { simulatorSettings } from '../services/simulator/src/simulator-config.js'
import { scorerSettings } from '../services/scorer/src/scorer-config.js'
import { commanderSettings } from '../services/commander/src/commander-config.js'
import { apiSettings } from '../services/api/src/api-config.js'
import { topicSettings } from '../services/shared/src/common-config.js'

const sections: Array<[string, Parameters<typeof describeSpec>[0]]> = [
  ['broker', brokerSettings],
  ['simulator', simulatorSettings],
  ['scorer', scorerSettings],
  ['commander', commanderSettings],
  ['api', apiSettings],
  ['kafka-topics (scripts/kafka-topics.ts, the chart\'s topics Job)', topicSettings]
]
const table = sections.map(([name, spec]) => [`**${name}**`, '', '| variable | default | meaning |', '|---|---|---|', ...describeSpec(spec)].join('\n')).join('\n\n')
const path = new URL('../docs/configuration.md', import.meta.url)
const readme = readFileSync(path, 'utf8')
const next = readme.replace(/<!-- config:start -->[\s\S]*<!-- config:end -->/, `<!-- config:start -->\n${table}\n<!-- config:end -->`)
writeFileSync(path, next)
console.log(next === readme ? 'docs/configuration.md table unchanged' : 'docs/configuration.md table updated')
