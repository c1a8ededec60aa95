// One prom-client registry per service instance (injected, so two brokers can live in one test).
import { Registry, collectDefaultMetrics } from 'prom-client'

export function createRegistry (service: string, withDefaults = true): Registry {
  const registry = new Registry()
  registry.setDefaultLabels({ service })
  if (withDefaults) collectDefaultMetrics({ register: registry, prefix: 'fleet_' })
  return registry
}
