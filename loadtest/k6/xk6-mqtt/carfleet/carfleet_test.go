package carfleet

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

// The hand-encoded PUBLISH and PUBACK read back as Paho decodes them.
func TestWireMatchesPaho(t *testing.T) {
	payload := bytes.Repeat([]byte("x"), 300) // a two-byte remaining length
	p, err := packets.ReadPacket(bytes.NewReader(appendPublish(nil, "vehicles/car-1/telemetry", 513, payload)))
	if err != nil {
		t.Fatal(err)
	}
	pub := p.(*packets.PublishPacket)
	if pub.Qos != 1 || pub.MessageID != 513 || pub.TopicName != "vehicles/car-1/telemetry" || !bytes.Equal(pub.Payload, payload) {
		t.Fatalf("got %v", pub)
	}
	p, err = packets.ReadPacket(bytes.NewReader(appendPuback(nil, 65535)))
	if err != nil || p.(*packets.PubackPacket).MessageID != 65535 {
		t.Fatalf("puback: %v %v", p, err)
	}
}

// nextPacket finds whole packets in any cut of a stream and asks for more bytes otherwise.
func TestNextPacketEveryCut(t *testing.T) {
	stream := append(appendPuback(nil, 7), appendPublish(nil, "t", 9, bytes.Repeat([]byte("y"), 200))...)
	for cut := 0; cut <= len(stream); cut++ {
		var got []byte
		data := stream[:cut]
		for {
			kind, _, size, err := nextPacket(data)
			if err != nil {
				t.Fatal(err)
			}
			if size == 0 {
				break
			}
			got = append(got, kind>>4)
			data = data[size:]
		}
		want := 0
		if cut >= 4 {
			want = 1
		}
		if cut == len(stream) {
			want = 2
		}
		if len(got) != want {
			t.Fatalf("cut %d: %d packets, want %d", cut, len(got), want)
		}
	}
	if _, _, _, err := nextPacket([]byte{0x30, 0xff, 0xff, 0xff, 0x7f}); err == nil {
		t.Fatal("a 256 MB packet must be refused")
	}
}

// The model's messages are JSON with the schema's fields, and seq counts up.
func TestModelMessages(t *testing.T) {
	m := NewModel("car-00001", 1, 10*time.Second)
	for seq := 0; seq < 1_000; seq++ {
		var msg map[string]any
		if err := json.Unmarshal(m.Append(nil, time.UnixMilli(1_700_000_000_000)), &msg); err != nil {
			t.Fatal(err)
		}
		if msg["seq"] != float64(seq) || msg["vehicleId"] != "car-00001" || msg["schemaVersion"] != float64(1) || len(msg) != 25 {
			t.Fatalf("seq %d: %v", seq, msg)
		}
		if s := msg["speedMps"].(float64); s < 0 || s > 60 {
			t.Fatalf("speed %v", s)
		}
	}
}

// A car seeded past 2^31, as carfleet seeds them, sends what vehicle-model.ts sends:
// createVehicle({ vehicleId: 'car-03000', seed: 3_000_009_005, failure: null }), message 30 of
// next(10, ts). test/go-model-parity.test.ts compares many cars against the TypeScript itself.
func TestModelMatchesVehicleModel(t *testing.T) {
	const want = `{"schemaVersion":1,"vehicleId":"car-03000","seq":29,"ts":1796544290000,"lat":47.945065,"lon":11.417266,"speedMps":22.03,"rpm":2099,"throttlePos":0.252,"coolantTempC":79.14,"intakeAirTempC":6.9,"intakeAirFlowGs":22.25,"engineVibrationMv":170.66,"batteryPct":93.27,"batteryVoltageMv":14305,"currentDrawA":-7.89,"tirePressureFlPsi":35,"tirePressureFrPsi":35,"tirePressureRlPsi":35,"tirePressureRrPsi":35,"accelFlMs2":-1.712,"accelFrMs2":2.969,"accelRlMs2":-2.984,"accelRrMs2":1.237,"controlUnitFirmware":20240815}`
	m := NewModel("car-03000", 3_000_009_005, 10*time.Second)
	var got []byte
	for k := int64(0); k < 30; k++ {
		got = m.Append(got[:0], time.UnixMilli(1_796_544_000_000+k*10_000))
	}
	if string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	buf := make([]byte, 0, 1_024)
	if n := testing.AllocsPerRun(100, func() { buf = m.Append(buf[:0], time.UnixMilli(1_796_544_300_000)) }); n != 0 {
		t.Fatalf("%v allocations per message", n)
	}
}

// num prints what strconv's shortest float printing prints for Math.round(x * 10^d) / 10^d.
func TestNumPrintsLikeJSON(t *testing.T) {
	ref := func(x float64, d int) string {
		y := x * pow10[d]
		r := math.Floor(y)
		if y-r >= 0.5 {
			r++
		}
		if r /= pow10[d]; r == 0 {
			r = 0
		}
		return strconv.FormatFloat(r, 'f', -1, 64)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	xs := []float64{0, math.Copysign(0, -1), -0.0004, 0.0005, -0.0005, 0.5, -0.5, 1.005, 12_000, 1e6, -200, 99.995, 89.9, -89.9, 180, -180, 0.000001, -0.0000004}
	for range 200_000 {
		xs = append(xs, (rng.Float64()-0.5)*math.Pow(10, float64(rng.IntN(9)-3)))
	}
	for _, x := range xs {
		for _, d := range []int{0, 2, 3, 6} {
			if got, want := string(num(nil, x, d)), ref(x, d); got != want {
				t.Fatalf("num(%v, %d) = %s, want %s", x, d, got, want)
			}
		}
	}
}

// The cost of one message: the model's steps at the interval, then its JSON.
func BenchmarkModel(b *testing.B) {
	for _, interval := range []time.Duration{10 * time.Second, time.Second} {
		b.Run(interval.String(), func(b *testing.B) {
			m := NewModel("car-00001", 1, interval)
			buf := make([]byte, 0, 1_024)
			now := time.UnixMilli(1_700_000_000_000)
			b.ReportAllocs()
			for b.Loop() {
				buf = m.Append(buf[:0], now)
			}
		})
	}
}

// dial connects from the source address it is given, and lets the kernel choose without one.
func TestDialFromSourceAddress(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	l, err := newLoop(&Fleet{})
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(l.epfd)
	for _, src := range []string{"127.0.3.7", ""} {
		fd, err := l.dial(ln.Addr().(*net.TCPAddr), net.ParseIP(src))
		if err != nil {
			t.Fatal(err)
		}
		conn, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		got := conn.RemoteAddr().(*net.TCPAddr).IP.String()
		conn.Close()
		syscall.Close(fd)
		if want := src; want == "" {
			if got != "127.0.0.1" {
				t.Fatalf("without a source address the car came from %s", got)
			}
		} else if got != want {
			t.Fatalf("source %s: the broker saw %s", want, got)
		}
	}
}
