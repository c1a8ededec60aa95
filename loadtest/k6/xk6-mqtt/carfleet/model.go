package carfleet

import (
	"math"
	"strconv"
	"time"
)

// Model is one car's telemetry: the seeded driving model of loadtest/k6/car-telemetry.ts, the
// same generator and formulas, so a Go car's messages look like a JavaScript car's and satisfy
// services/shared/src/telemetry-schema.ts (test/k6-smoke.test.ts checks both against it).
type Model struct {
	vehicleID string
	dt        float64
	seq       int64
	s         int64 // Park–Miller state
	lat, lon  float64
	heading   float64
	speed     float64
	cruise    float64
	coolant   float64
	battery   float64
	tires     [4]int
}

const mPerDegLat = 111_320

// NewModel starts a car's model; seed is the car's number, as in car-telemetry.ts.
func NewModel(vehicleID string, seed int64, interval time.Duration) *Model {
	if seed < 0 {
		seed = -seed
	}
	m := &Model{vehicleID: vehicleID, dt: interval.Seconds(), s: (seed*2_654_435_761)%2_147_483_646 + 1}
	for i := 0; i < 4; i++ {
		m.rnd()
	}
	m.lat = 48.137 + (m.rnd()-0.5)*0.4
	m.lon = 11.575 + (m.rnd()-0.5)*0.6
	m.heading = m.rnd() * 2 * math.Pi
	m.speed = m.rnd() * 15
	m.cruise = 8 + m.rnd()*25
	m.coolant = 20 + m.rnd()*60
	m.battery = 40 + m.rnd()*60
	for i := range m.tires {
		m.tires[i] = 32 + int(math.Floor(m.rnd()*4))
	}
	return m
}

func (m *Model) rnd() float64 {
	m.s = (m.s * 16_807) % 2_147_483_647
	return float64(m.s-1) / 2_147_483_646
}

// normal is triangular noise with standard deviation sd (cheap, close enough for sensors).
func (m *Model) normal(sd float64) float64 { return (m.rnd() + m.rnd() - 1) * 2.4494897 * sd }

func clamp(n, lo, hi float64) float64 { return math.Min(hi, math.Max(lo, n)) }

// Seq is the sequence number of the next message.
func (m *Model) Seq() int64 { return m.seq }

// Append appends the car's next message (JSON) to b; seq grows by one per call.
func (m *Model) Append(b []byte, now time.Time) []byte {
	if m.rnd() < 0.02 { // a stop, or a new road
		if m.rnd() < 0.2 {
			m.cruise = 0
		} else {
			m.cruise = 8 + m.rnd()*25
		}
	}
	accel := clamp((m.cruise-m.speed)*0.3+m.normal(0.4), -4, 3)
	m.speed = clamp(m.speed+accel*m.dt, 0, 60)
	m.heading += m.normal(0.05)
	metres := m.speed * m.dt
	m.lat = clamp(m.lat+metres*math.Cos(m.heading)/mPerDegLat, -89.9, 89.9)
	m.lon += metres * math.Sin(m.heading) / (mPerDegLat * math.Cos(m.lat*math.Pi/180))
	if m.lon > 180 {
		m.lon -= 360
	}
	if m.lon < -180 {
		m.lon += 360
	}
	throttle := clamp(0.05+accel/6+m.speed/80+m.normal(0.02), 0, 1)
	m.coolant += (90-m.coolant)*0.01*m.dt + m.normal(0.1)
	m.battery = clamp(m.battery-0.001*m.dt*(1+throttle), 5, 100)
	if m.battery <= 5 {
		m.battery = 100 // recharged overnight
	}
	var rpm float64
	if m.speed < 0.5 {
		rpm = 750 + m.normal(20)
	} else {
		rpm = 900 + m.speed*70 + throttle*1_500 + m.normal(40)
	}
	// Draw in car-telemetry.ts's order (object literal order), so a seed gives the same car.
	rpm = math.Round(clamp(rpm, 0, 12_000))
	intakeAir := clamp(22+m.normal(2)+throttle*5, -50, 150)
	airFlow := clamp(2.5+throttle*60+m.normal(1), 0, 1_000)
	vibration := clamp(110+m.speed*4+m.normal(8), 0, 10_000)
	voltage := math.Round(clamp(12_400+m.battery*4+m.normal(40), 0, 1_000_000))
	current := clamp(4+throttle*40+m.normal(1.5), -2_000, 2_000)
	var bumps [4]float64
	for i := range bumps {
		bumps[i] = clamp(m.normal(0.3+m.speed/40), -200, 200)
	}

	b = append(b, `{"schemaVersion":1,"vehicleId":"`...)
	b = append(b, m.vehicleID...)
	b = append(b, `","seq":`...)
	b = strconv.AppendInt(b, m.seq, 10)
	m.seq++
	b = append(b, `,"ts":`...)
	b = strconv.AppendInt(b, now.UnixMilli(), 10)
	b = num(append(b, `,"lat":`...), m.lat, 1e6)
	b = num(append(b, `,"lon":`...), m.lon, 1e6)
	b = num(append(b, `,"speedMps":`...), m.speed, 100)
	b = num(append(b, `,"rpm":`...), rpm, 1)
	b = num(append(b, `,"throttlePos":`...), throttle, 1e3)
	b = num(append(b, `,"coolantTempC":`...), clamp(m.coolant, -50, 200), 100)
	b = num(append(b, `,"intakeAirTempC":`...), intakeAir, 100)
	b = num(append(b, `,"intakeAirFlowGs":`...), airFlow, 100)
	b = num(append(b, `,"engineVibrationMv":`...), vibration, 100)
	b = num(append(b, `,"batteryPct":`...), m.battery, 100)
	b = num(append(b, `,"batteryVoltageMv":`...), voltage, 1)
	b = num(append(b, `,"currentDrawA":`...), current, 100)
	for i, name := range [...]string{`,"tirePressureFlPsi":`, `,"tirePressureFrPsi":`, `,"tirePressureRlPsi":`, `,"tirePressureRrPsi":`} {
		b = strconv.AppendInt(append(b, name...), int64(m.tires[i]), 10)
	}
	for i, name := range [...]string{`,"accelFlMs2":`, `,"accelFrMs2":`, `,"accelRlMs2":`, `,"accelRrMs2":`} {
		b = num(append(b, name...), bumps[i], 1e3)
	}
	return append(b, `,"controlUnitFirmware":20240301}`...)
}

// num appends x rounded to 1/scale, as JavaScript's Math.round(x * scale) / scale prints it.
func num(b []byte, x, scale float64) []byte {
	r := math.Floor(x*scale+0.5) / scale
	if r == 0 {
		r = 0 // no "-0"
	}
	return strconv.AppendFloat(b, r, 'f', -1, 64)
}
