// Telemetry of one simulated car for the k6 load test: the car the scorer's autoencoder learned
// (services/shared/src/vehicle-model.ts, bundled into vehicle-model.js by `npm run
// loadtest:k6:car`), healthy, advanced by one interval per message as the Node simulator and the
// Go generator (carfleet/model.go) advance theirs. test/k6-car-model.test.ts proves it sends what
// vehicle-model.ts sends for the same seed.
import { createVehicle, type Vehicle } from './vehicle-model.js'

export type CarTelemetry = ReturnType<Vehicle['next']>

export interface Car {
  readonly vehicleId: string
  /** The next message, `intervalMs` of driving after the previous one; seq grows by 1 each call. */
  next: (now?: number) => CarTelemetry
}

/** Car `seed` (k6 uses the car number): a cold start, no failure, stamped with the wall clock. */
export function createCar (vehicleId: string, seed: number, intervalMs: number, firstSeq = 0): Car {
  const vehicle = createVehicle({ vehicleId, seed, failure: null, firstSeq })
  const dtS = intervalMs / 1_000
  return {
    vehicleId,
    next: (now = Date.now()) => vehicle.next(dtS, now)
  }
}
