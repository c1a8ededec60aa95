// An anomaly as the scorer writes it to vehicle.anomalies, for tests that feed the commander's
// rules or the api's feed: coolant_leak on the car, above the threshold, unless told otherwise.
import type { Anomaly } from '../../services/shared/src/anomaly-schema.js'

export function testAnomaly (vehicleId: string, overrides: Partial<Anomaly> = {}): Anomaly {
  return {
    vehicleId,
    seq: 1,
    ts: Date.now(),
    scoredAt: new Date().toISOString(),
    score: 4.2,
    rowScore: 5,
    threshold: 1,
    anomalous: true,
    modelVersion: 'test',
    topFeatures: [{ feature: 'coolantTempC', share: 0.9 }],
    failureModeGuess: 'coolant_leak',
    source: { partition: 0, offset: '1' },
    ...overrides
  }
}
