// Prints README's configuration table from the services' own setting declarations.
import { describeSpec } from '../services/shared/src/config.js'
import { brokerSettings } from '../services/broker/src/broker-config.js'
import { simulatorSettings } from '../services/simulator/src/simulator-config.js'

const sections: Array<[string, Record<string, never>]> = [
  ['broker', brokerSettings as never],
  ['simulator', simulatorSettings as never]
]
for (const [name, spec] of sections) {
  console.log(`\n**${name}**\n\n| variable | default | meaning |\n|---|---|---|`)
  for (const row of describeSpec(spec)) console.log(row)
}
