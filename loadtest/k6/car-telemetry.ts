// Telemetry of one simulated car for the k6 load test: a small seeded driving model (speed,
// position, engine warm-up, battery) whose messages satisfy services/shared/src/telemetry-schema.ts.
// No imports, so both k6 and node (test/k6-smoke.test.ts proves it against the schema) can load it.
// It is not the car the scorer's autoencoder learned (services/shared/src/vehicle-model.ts): the
// scorer flags most of its healthy messages (npm run bench:load-model-alarms), so a run driven by
// it loads the scorer's anomaly path. The Go generator (loadtest/k6/cmd/fleet-cars) no longer uses
// it: carfleet/model.go is a port of vehicle-model.ts.

export interface CarTelemetry {
  schemaVersion: 1
  vehicleId: string
  seq: number
  ts: number
  lat: number
  lon: number
  speedMps: number
  rpm: number
  throttlePos: number
  coolantTempC: number
  intakeAirTempC: number
  intakeAirFlowGs: number
  engineVibrationMv: number
  batteryPct: number
  batteryVoltageMv: number
  currentDrawA: number
  tirePressureFlPsi: number
  tirePressureFrPsi: number
  tirePressureRlPsi: number
  tirePressureRrPsi: number
  accelFlMs2: number
  accelFrMs2: number
  accelRlMs2: number
  accelRrMs2: number
  controlUnitFirmware: number
}

export interface Car {
  readonly vehicleId: string
  /** The next message, `intervalMs` after the previous one; seq grows by 1 each call. */
  next: (now?: number) => CarTelemetry
}

const M_PER_DEG_LAT = 111_320
const clamp = (n: number, min: number, max: number) => n < min ? min : n > max ? max : n
const round2 = (n: number) => Math.round(n * 100) / 100
const round3 = (n: number) => Math.round(n * 1_000) / 1_000
const round6 = (n: number) => Math.round(n * 1_000_000) / 1_000_000

/**
 * Park–Miller minimal standard generator: exact in doubles and free of native calls, which cost
 * far more than arithmetic in k6's interpreter (this model runs once per message).
 */
function prng (seed: number): () => number {
  // Spread neighbouring seeds (car numbers) apart, then skip the first, still correlated, draws.
  let s = ((Math.abs(Math.floor(seed)) * 2_654_435_761) % 2_147_483_646) + 1
  const next = () => {
    s = (s * 16_807) % 2_147_483_647
    return (s - 1) / 2_147_483_646
  }
  for (let i = 0; i < 4; i++) next()
  return next
}

export function createCar (vehicleId: string, seed: number, intervalMs: number, firstSeq = 0): Car {
  const rnd = prng(seed)
  // Triangular noise with standard deviation sd: close enough to normal for sensor noise, cheap.
  const normal = (sd: number) => (rnd() + rnd() - 1) * 2.4494897 * sd
  const dt = intervalMs / 1_000
  let seq = firstSeq
  let lat = 48.137 + (rnd() - 0.5) * 0.4
  let lon = 11.575 + (rnd() - 0.5) * 0.6
  let heading = rnd() * 2 * Math.PI
  let speed = rnd() * 15
  let cruise = 8 + rnd() * 25
  let coolant = 20 + rnd() * 60
  let battery = 40 + rnd() * 60
  const tires = [0, 1, 2, 3].map(() => 32 + Math.floor(rnd() * 4))

  return {
    vehicleId,
    next (now = Date.now()) {
      if (rnd() < 0.02) cruise = rnd() < 0.2 ? 0 : 8 + rnd() * 25 // a stop, or a new road
      const accel = clamp((cruise - speed) * 0.3 + normal(0.4), -4, 3)
      speed = clamp(speed + accel * dt, 0, 60)
      heading += normal(0.05)
      const metres = speed * dt
      lat = clamp(lat + (metres * Math.cos(heading)) / M_PER_DEG_LAT, -89.9, 89.9)
      lon += (metres * Math.sin(heading)) / (M_PER_DEG_LAT * Math.cos((lat * Math.PI) / 180))
      if (lon > 180) lon -= 360
      if (lon < -180) lon += 360
      const throttle = clamp(0.05 + accel / 6 + speed / 80 + normal(0.02), 0, 1)
      coolant += (90 - coolant) * 0.01 * dt + normal(0.1)
      battery = clamp(battery - 0.001 * dt * (1 + throttle), 5, 100)
      if (battery <= 5) battery = 100 // recharged overnight
      const bump = () => round3(clamp(normal(0.3 + speed / 40), -200, 200))
      return {
        schemaVersion: 1,
        vehicleId,
        seq: seq++,
        ts: Math.round(now),
        lat: round6(lat),
        lon: round6(lon),
        speedMps: round2(speed),
        rpm: Math.round(clamp(speed < 0.5 ? 750 + normal(20) : 900 + speed * 70 + throttle * 1_500 + normal(40), 0, 12_000)),
        throttlePos: round3(throttle),
        coolantTempC: round2(clamp(coolant, -50, 200)),
        intakeAirTempC: round2(clamp(22 + normal(2) + throttle * 5, -50, 150)),
        intakeAirFlowGs: round2(clamp(2.5 + throttle * 60 + normal(1), 0, 1_000)),
        engineVibrationMv: round2(clamp(110 + speed * 4 + normal(8), 0, 10_000)),
        batteryPct: round2(battery),
        batteryVoltageMv: Math.round(clamp(12_400 + battery * 4 + normal(40), 0, 1_000_000)),
        currentDrawA: round2(clamp(4 + throttle * 40 + normal(1.5), -2_000, 2_000)),
        tirePressureFlPsi: tires[0]!,
        tirePressureFrPsi: tires[1]!,
        tirePressureRlPsi: tires[2]!,
        tirePressureRrPsi: tires[3]!,
        accelFlMs2: bump(),
        accelFrMs2: bump(),
        accelRlMs2: bump(),
        accelRrMs2: bump(),
        controlUnitFirmware: 2024_03_01
      }
    }
  }
}
