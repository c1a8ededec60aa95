// One prom-client registry per service instance (injected, so two brokers can live in one test).
import { Registry, collectDefaultMetrics } from 'prom-client'

export const EVENT_LOOP_SAMPLE_MS = 50

export function createRegistry (service: string, withDefaults = true): Registry {
  const registry = new Registry()
  registry.setDefaultLabels({ service })
  // The event-loop lag histogram samples every 50 ms, not prom-client's 10: its timer woke an idle
  // process 100 times a second, half of an idle broker's CPU (0.011 → 0.006 cores measured); a
  // loop blocked 50 ms or more still shows in full, in nodejs_eventloop_lag_max_seconds too.
  if (withDefaults) collectDefaultMetrics({ register: registry, prefix: 'fleet_', eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS })
  return registry
}
