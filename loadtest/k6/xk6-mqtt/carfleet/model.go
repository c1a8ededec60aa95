package carfleet

import (
	"math"
	"strconv"
	"time"
)

// Model is one car's telemetry: a port of services/shared/src/vehicle-model.ts (the car the
// scorer's autoencoder learned), drawing from the same mulberry32 generator in the same order with
// the same arithmetic, so a Go car with seed S sends what createVehicle({ seed: S }) sends
// (test/go-model-parity.test.ts compares them: byte-identical on amd64; math.Log/Cos/Exp/Pow/Sin
// may differ from V8's by an ulp, and on arm64 Go may fuse a multiply-add, which is as small).
// Its messages satisfy services/shared/src/telemetry-schema.ts.
// Keep the two in step: a change to vehicle-model.ts needs the same change here.
type Model struct {
	vehicleID string
	dt        float64
	seq       int64
	rnd       uint32 // mulberry32 state
	failure   ModelFailure

	// The car (and its day): drawn once, in vehicle-model.ts's declaration order.
	massKg, cdA, aggressive, ambientC, idleRpm, vibGain, electricalLoadA float64
	tyreCold                                                             [4]float64
	punctured                                                            int
	firmware                                                             int64

	elapsed, phaseLeft, target, v, a, rpm, throttle, loadKw float64
	phase, road, gear                                       int
	coolant, iat, soc, tyreWarm, rough, heading, lat, lon   float64
	battI, battV, sev                                       float64
}

// ModelFailure is vehicle-model.ts's FailureSpec: Mode "" is a healthy car.
type ModelFailure struct {
	Mode     string  // one of vehicle-model.ts's FAILURE_MODES
	OnsetS   float64 // seconds of driving before it starts
	DevelopS float64 // seconds from onset to full severity; 0 = the mode's default
}

// ModelOptions are vehicle-model.ts's VehicleOptions (startTs aside: Append is given the time).
type ModelOptions struct {
	Seed     int64 // as JavaScript's ToInt32 reads it: only the low 32 bits count
	Interval time.Duration
	Failure  ModelFailure
	FirstSeq int64
	Warm     bool // coldStart: false (the engine starts at 89 °C)
}

const (
	phaseIdle = iota
	phaseAccelerate
	phaseCruise
	phaseBrake
)

const (
	mPerDeg   = 111_320
	maxStepS  = 1
	modeNone  = ""
	modeLeak  = "coolant_leak"
	modeBear  = "bearing_wear"
	modeBatt  = "battery_degradation"
	modeMaf   = "maf_sensor_drift"
	modeTyre  = "tyre_slow_puncture"
	jsonStart = `{"schemaVersion":1,"vehicleId":"` // TELEMETRY_SCHEMA_VERSION
)

// Overall ratio (gearbox × final drive) in engine rpm per m/s for a 0.31 m wheel.
var gearRpmPerMps = [...]float64{431, 252, 168, 120, 96, 78}
var firmwares = [...]int64{2024_03_01, 2024_08_15, 2025_01_10}
var defaultDevelopS = map[string]float64{modeLeak: 600, modeBear: 900, modeBatt: 600, modeMaf: 900, modeTyre: 900}

type roadKind struct{ min, max, stopP, cruiseMin, cruiseMax float64 }

var roads = [...]roadKind{
	{7, 14, 0.7, 15, 90},    // city
	{14, 22, 0.4, 30, 180},  // suburban
	{25, 36, 0.08, 90, 600}, // motorway
}

// NewModel starts a healthy car, cold, as createVehicle({ vehicleId, seed, failure: null }).
func NewModel(vehicleID string, seed int64, interval time.Duration) *Model {
	return NewModelWith(vehicleID, ModelOptions{Seed: seed, Interval: interval})
}

// NewModelWith starts a car with vehicle-model.ts's options.
func NewModelWith(vehicleID string, o ModelOptions) *Model {
	// Math.imul(seed ^ 0x5bd1e995, 2654435761) ^ 0x27d4eb2f, then seededRandom's `seed >>> 0`.
	m := &Model{vehicleID: vehicleID, dt: float64(o.Interval) / 1e9, seq: o.FirstSeq, failure: o.Failure,
		rnd: (uint32(o.Seed)^0x5bd1e995)*2_654_435_761 ^ 0x27d4eb2f}
	if m.failure.Mode != modeNone && m.failure.DevelopS == 0 {
		m.failure.DevelopS = defaultDevelopS[m.failure.Mode]
	}
	m.massKg = m.between(1_250, 1_850)
	m.cdA = m.between(0.6, 0.8)
	m.aggressive = m.between(0.7, 1.3)
	m.ambientC = m.between(0, 32)
	m.idleRpm = m.between(720, 820)
	m.vibGain = m.between(0.85, 1.15)
	m.electricalLoadA = m.between(18, 40)
	tyreBase := m.between(32, 35.5)
	for i := range m.tyreCold {
		m.tyreCold[i] = tyreBase + m.normal(0, 0.35)
	}
	m.punctured = int(m.intBetween(0, 3))
	m.firmware = firmwares[int(math.Floor(m.next()*float64(len(firmwares))))]

	m.phase = phaseIdle
	m.phaseLeft = m.between(3, 20)
	m.road = int(m.intBetween(0, 2))
	m.rpm = m.idleRpm
	if o.Warm {
		m.coolant = 89
	} else {
		m.coolant = m.ambientC + m.between(0, 5)
	}
	m.iat = m.ambientC + 4
	m.soc = m.between(72, 95)
	m.rough = m.between(0.5, 1.5)
	m.heading = m.next() * 2 * math.Pi
	m.lat = 48.137 + m.between(-0.3, 0.3)
	m.lon = 11.575 + m.between(-0.4, 0.4)
	m.battV = 12_600
	return m
}

// next is seeded-random.ts's mulberry32 step (Math.imul and `>>> 0` are uint32 arithmetic).
func (m *Model) next() float64 {
	m.rnd += 0x6d2b79f5
	t := m.rnd
	t = (t ^ t>>15) * (t | 1)
	t ^= t + (t^t>>7)*(t|61)
	return float64(t^t>>14) / 4_294_967_296
}

func (m *Model) between(lo, hi float64) float64 { return lo + (hi-lo)*m.next() }

func (m *Model) intBetween(lo, hi float64) float64 { return math.Floor(lo + (hi-lo+1)*m.next()) }

// normal is seeded-random.ts's Box–Muller: always two draws.
func (m *Model) normal(mean, sd float64) float64 {
	u := max(m.next(), 1e-12)
	return mean + sd*math.Sqrt(-2*math.Log(u))*math.Cos(2*math.Pi*m.next())
}

// skipNormal takes normal's two draws without its log and cos, for a noise that vehicle-model.ts
// multiplies by 0 or scales by sd 0: adding that ±0 changes nothing (the noise is finite).
func (m *Model) skipNormal() { m.rnd += 2 * 0x6d2b79f5 }

func clamp(n, lo, hi float64) float64 {
	if n < lo {
		return lo
	}
	if n > hi {
		return hi
	}
	return n
}

// Seq is the sequence number of the next message.
func (m *Model) Seq() int64 { return m.seq }

// Append advances the car by one interval and appends its message (JSON) to b, as vehicle-model's
// next(interval, now) followed by JSON.stringify; seq grows by one per call.
func (m *Model) Append(b []byte, now time.Time) []byte {
	// Long intervals are integrated in ≤ 1 s steps so the dynamics stay stable at any rate.
	for left := m.dt; left > 1e-9; {
		step := left
		if step > maxStepS {
			step = maxStepS
		}
		m.stepPhysics(step)
		left -= step
	}
	return m.emit(b, now.UnixMilli())
}

func (m *Model) chooseRoad() {
	u := m.next()
	// Roads change slowly: mostly stay, otherwise a neighbouring kind.
	if u < 0.6 {
		return
	}
	d := 1
	if u < 0.8 {
		d = -1
	}
	m.road = min(max(m.road+d, 0), 2)
}

func (m *Model) newCruiseTarget() float64 {
	r := &roads[m.road]
	return m.between(r.min, r.max)
}

func (m *Model) stepPhase(dt float64) {
	m.phaseLeft -= dt
	r := roads[m.road]
	switch m.phase {
	case phaseIdle:
		m.a = 0
		if m.phaseLeft <= 0 {
			m.chooseRoad()
			m.target = m.newCruiseTarget()
			m.phase = phaseAccelerate
		}
	case phaseAccelerate:
		k := 1.4
		if m.v < 10 {
			k = 2.4
		}
		want := min(m.aggressive*k, 0.8*(m.target-m.v)+0.3)
		m.a += (want - m.a) * min(1, dt*1.5)
		if m.v >= m.target-0.3 {
			m.phase = phaseCruise
			m.phaseLeft = m.between(r.cruiseMin, r.cruiseMax)
		}
	case phaseCruise:
		// Traffic: the wanted speed wanders a little around the road's pace.
		m.target = clamp(m.target+m.normal(0, 0.25)*math.Sqrt(dt), r.min-2, r.max+2)
		m.a = clamp(0.4*(m.target-m.v), -1.5, 1.2)
		if m.phaseLeft <= 0 {
			if m.next() < r.stopP {
				m.target = 0
				m.phase = phaseBrake
			} else {
				m.chooseRoad()
				next := m.newCruiseTarget()
				m.target = next
				if next > m.v {
					m.phase = phaseAccelerate
				} else {
					m.phase = phaseBrake
				}
			}
		}
	case phaseBrake:
		want := -min(m.aggressive*2.6, 0.6*(m.v-m.target)+0.4)
		m.a += (want - m.a) * min(1, dt*2)
		if m.v <= m.target+0.2 {
			if m.target <= 0.5 {
				m.v = 0
				m.a = 0
				m.phase = phaseIdle
				longest := 30.0
				if m.road == 0 {
					longest = 60
				}
				m.phaseLeft = m.between(5, longest)
			} else {
				m.phase = phaseCruise
				m.phaseLeft = m.between(r.cruiseMin, r.cruiseMax)
			}
		}
	}
}

// b2f is JavaScript's `cond ? 1 : 0`.
func b2f(c bool, x float64) float64 {
	if c {
		return x
	}
	return 0
}

func (m *Model) stepPhysics(dt float64) {
	m.stepPhase(dt)
	m.v = clamp(m.v+m.a*dt, 0, 60)
	m.elapsed += dt
	f := &m.failure
	if f.Mode == modeNone || m.elapsed < f.OnsetS {
		m.sev = 0
	} else {
		m.sev = min(1, (m.elapsed-f.OnsetS)/f.DevelopS)
	}

	// Drivetrain: the highest gear that keeps the engine above its shift point.
	shiftRpm := 1_350 + 1_100*m.throttle
	m.gear = 0
	for g := len(gearRpmPerMps) - 1; g > 0; g-- {
		if m.v*gearRpmPerMps[g] >= shiftRpm {
			m.gear = g
			break
		}
	}
	v := m.v
	wheelRpm := v * gearRpmPerMps[m.gear]
	resistN := 0.5 * 1.2 * m.cdA * v * v
	if v > 0.1 {
		resistN += 0.012 * m.massKg * 9.81
	}
	powerW := (m.massKg*m.a + resistN) * v
	m.loadKw = max(0, powerW/1_000)
	if v < 2.5 && m.a > 0 {
		m.rpm = m.idleRpm + 900 + 500*m.a
	} else {
		m.rpm = max(m.idleRpm, wheelRpm)
	}
	maxKw := 110 * clamp(m.rpm/5_500, 0.18, 1)
	if powerW <= 0 {
		m.throttle = 0
	} else {
		m.throttle = clamp(0.03+m.loadKw/maxKw, 0, 1)
	}

	// Thermostat and radiator: warm-up, then held near 89 °C; a leak takes the radiator's capacity.
	heatKw := 3.5 + 1.05*m.loadKw
	opening := clamp((m.coolant-88)/7, 0, 1)
	fan := b2f(m.coolant > 97, 0.6)
	leak := 1.0
	if f.Mode == modeLeak {
		leak = 1 - 0.97*m.sev
	}
	uaKw := opening*(0.6+0.04*v+fan)*leak + 0.004
	m.coolant = clamp(m.coolant+dt*(heatKw-uaKw*(m.coolant-m.ambientC))/50, -40, 135)

	// Heat soak raises the intake air at low speed once the engine is warm.
	ev := 1.0 // Math.exp(-0)
	if v != 0 {
		ev = math.Exp(-v / 6)
	}
	soak := 18 * ev * clamp((m.coolant-m.ambientC)/70, 0, 1.4)
	m.iat += (m.ambientC + 3 + soak - m.iat) * min(1, dt/60)

	// Alternator (capacity grows with rpm) carries the loads and charges the battery.
	loads := m.electricalLoadA + b2f(m.coolant > 97, 20) + b2f(m.throttle > 0.5, 5)
	altMax := 130 * clamp((m.rpm-450)/1_600, 0.28, 1)
	wantCharge := 1.2 + 0.9*(100-m.soc)
	degraded := b2f(f.Mode == modeBatt, m.sev)
	charge := min(wantCharge+32*degraded, altMax-loads)
	m.battI = -charge
	if charge > 0 {
		m.battV = 14_250 - 8*(m.iat-20) - 1_400*degraded - max(0, 40-charge)*2
	} else {
		m.battV = 12_000 + 7*m.soc + charge*12 - 1_400*degraded
	}
	// A failing cell takes charge and gives nothing back: state of charge falls while charging.
	m.soc = clamp(m.soc+dt*(-m.battI/(60*3_600)*100*(1-degraded)-0.012*degraded), 5, 100)

	m.tyreWarm += (clamp(v/25, 0, 1) - m.tyreWarm) * min(1, dt/600)
	m.rough = clamp(m.rough+m.normal(0, 0.03)*math.Sqrt(dt), 0.3, 2)
	if v > 1 {
		m.heading += m.normal(0, 0.04) * math.Sqrt(dt)
	} else {
		m.skipNormal() // × 0
	}
	if metres := v * dt; metres != 0 { // a car standing still stays where it is
		m.lat = clamp(m.lat+metres*math.Cos(m.heading)/mPerDeg, -89.9, 89.9)
		m.lon += metres * math.Sin(m.heading) / (mPerDeg * math.Cos(m.lat*math.Pi/180))
	}
	if m.lon > 180 {
		m.lon -= 360
	}
	if m.lon < -180 {
		m.lon += 360
	}
}

var (
	psiNames    = [4]string{`,"tirePressureFlPsi":`, `,"tirePressureFrPsi":`, `,"tirePressureRlPsi":`, `,"tirePressureRrPsi":`}
	cornerNames = [4]string{`,"accelFlMs2":`, `,"accelFrMs2":`, `,"accelRlMs2":`, `,"accelRrMs2":`}
)

// emit draws the sensors' noise in the order JavaScript evaluates vehicle-model.ts's emit: vib
// (both draws), body, then the object literal's fields.
func (m *Model) emit(b []byte, tsMs int64) []byte {
	mode := m.failure.Mode
	bearing := b2f(mode == modeBear, m.sev)
	drift := b2f(mode == modeMaf, m.sev)
	puncture := b2f(mode == modeTyre, m.sev)
	leak := b2f(mode == modeLeak, m.sev)
	v, rpm, throttle := m.v, m.rpm, m.throttle
	maf := rpm / 120 * 2.0 * 1.2 * 0.85 * (0.3 + 0.7*math.Pow(throttle, 0.6)) * 293 / (273 + m.iat)
	vib := m.vibGain * (60 + 0.035*rpm + 60*throttle + 8*m.rough) * (1 + m.normal(0, 0.05))
	if bearing != 0 {
		vib += bearing * (0.5 + rpm/3_000) * 160 * (1 + m.normal(0, 0.15))
	} else {
		m.skipNormal() // × 0
	}
	warmPsi := 2.5*m.tyreWarm + (m.ambientC-20)*0.06
	body := 0.0
	if sd := m.rough * v / 40; sd != 0 {
		body = m.normal(0, sd)
	} else {
		m.skipNormal() // sd 0
	}

	b = append(b, jsonStart...)
	b = append(b, m.vehicleID...) // ids are [A-Za-z0-9._-]: nothing to escape
	b = append(b, `","seq":`...)
	b = strconv.AppendInt(b, m.seq, 10)
	m.seq++
	b = strconv.AppendInt(append(b, `,"ts":`...), tsMs, 10)
	b = num(append(b, `,"lat":`...), m.lat, 6)
	b = num(append(b, `,"lon":`...), m.lon, 6)
	b = num(append(b, `,"speedMps":`...), v, 2)
	b = num(append(b, `,"rpm":`...), clamp(rpm+m.normal(0, 15), 0, 12_000), 0)
	tp := throttle
	if throttle > 0 {
		tp += m.normal(0, 0.01)
	}
	b = num(append(b, `,"throttlePos":`...), clamp(tp, 0, 1), 3)
	b = num(append(b, `,"coolantTempC":`...), clamp(m.coolant+leak*(6+0.15*m.loadKw)+m.normal(0, 0.3+1.5*leak), -50, 200), 2)
	b = num(append(b, `,"intakeAirTempC":`...), clamp(m.iat+m.normal(0, 0.4), -50, 150), 2)
	b = num(append(b, `,"intakeAirFlowGs":`...), clamp(maf*(1-0.45*drift)-0.8*drift+m.normal(0, 0.15+0.02*maf), 0, 1_000), 2)
	b = num(append(b, `,"engineVibrationMv":`...), clamp(vib, 0, 10_000), 2)
	b = num(append(b, `,"batteryPct":`...), clamp(m.soc+m.normal(0, 0.2), 0, 100), 2)
	b = num(append(b, `,"batteryVoltageMv":`...), clamp(m.battV+m.normal(0, 25), 0, 1_000_000), 0)
	b = num(append(b, `,"currentDrawA":`...), clamp(m.battI+m.normal(0, 0.6), -2_000, 2_000), 2)
	for i := range psiNames {
		flat := b2f(i == m.punctured, 17*puncture)
		b = num(append(b, psiNames[i]...), clamp(m.tyreCold[i]+warmPsi-flat+m.normal(0, 0.25), 0, 100), 0)
	}
	for i := range cornerNames {
		flat := b2f(i == m.punctured, puncture)
		b = num(append(b, cornerNames[i]...), clamp(body+m.normal(0, m.rough*(0.15+v/25)*(1+1.5*flat)), -200, 200), 3)
	}
	b = strconv.AppendInt(append(b, `,"controlUnitFirmware":`...), m.firmware, 10)
	return append(b, '}')
}

var pow10 = [...]float64{1, 10, 100, 1e3, 1e4, 1e5, 1e6}

// num appends Math.round(x * 10^decimals) / 10^decimals as JSON.stringify prints it. Math.round
// rounds half up (exactly: y - floor(y) is exact), -0 prints as 0, and the shortest decimal that
// reads back as k / 10^d is k / 10^d itself when it has at most 15 digits: so k's digits with the
// point put in and trailing zeros dropped, without strconv's shortest-float search.
func num(b []byte, x float64, decimals int) []byte {
	y := x * pow10[decimals]
	r := math.Floor(y)
	if y-r >= 0.5 {
		r++
	}
	if !(math.Abs(r) < 1e15) { // not reached with the model's ranges
		if r /= pow10[decimals]; r == 0 {
			r = 0
		}
		return strconv.AppendFloat(b, r, 'f', -1, 64)
	}
	k := int64(r)
	if k < 0 {
		b = append(b, '-')
		k = -k
	}
	var d [16]byte // k's digits, right-aligned
	i := len(d)
	for ; k > 0 || i > len(d)-decimals-1; k /= 10 {
		i--
		d[i] = byte('0' + k%10)
	}
	point := len(d) - decimals
	end := len(d)
	for end > point && d[end-1] == '0' {
		end--
	}
	b = append(b, d[i:point]...)
	if end > point {
		b = append(append(b, '.'), d[point:end]...)
	}
	return b
}
