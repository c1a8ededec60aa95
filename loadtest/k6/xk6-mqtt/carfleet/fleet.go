// Package carfleet drives many simulated cars from one Go process: each car is one MQTT 3.1.1
// connection with its own credentials and a persistent session, QoS 1 telemetry on a timer (timed
// from PUBLISH to PUBACK), and commands received and acknowledged. All cars share one epoll loop
// (loop.go): a car costs a socket, a few small buffers and a timer entry, not a client library's
// goroutines and queues. The standalone load generator (cmd/fleet-cars) uses it.
package carfleet

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Config is one fleet of cars: car i (FirstCar ≤ i < FirstCar+Cars) is VehicleID(i). Car i
// starts on Servers[i mod n] and moves to the next server on every reconnect, as a car behind a
// load balancer lands on another pod.
type Config struct {
	Servers []string // host:port, MQTT over TCP
	// Local IPv4 addresses the cars connect from, car i from SourceAddrs[i mod n] (none: the
	// kernel's choice). On loopback, 127.0.0.0/8 is all local: with one source address ~100,000
	// connections to a handful of ports made the kernel's ephemeral-port search in connect()
	// 90 % of the generator's CPU (__inet_check_established) and stalled its loop for seconds.
	SourceAddrs     []net.IP
	Cars            int
	FirstCar        int
	VehicleID       func(index int) string
	Password        func(vehicleID string) (string, bool)
	Interval        time.Duration // telemetry period per car; 0 = idle cars (connect, subscribe, keepalive only)
	RampPerSecond   int
	Keepalive       time.Duration
	ConnectTimeout  time.Duration
	ReconnectPeriod time.Duration // a retry waits this (+ up to 50 % jitter), doubling per failed attempt up to 30 s
	CleanSession    bool
	Seed            int64
	// Optional observers (k6 turns them into metric samples); called on the fleet's loop goroutine.
	OnPuback  func(d time.Duration, telemetry bool)
	OnConnect func(d time.Duration, err error)
	OnLost    func(err error)
}

// Stats are the fleet's counters.
type Stats struct {
	Connected        int64 `json:"connected"`
	Published        int64 `json:"published"`
	Acked            int64 `json:"acked"`
	Errors           int64 `json:"errors"`
	CommandsAnswered int64 `json:"commandsAnswered"`
	Disconnects      int64 `json:"disconnects"`
	Reconnects       int64 `json:"reconnects"`
	ConnectFailures  int64 `json:"connectFailures"`
}

// Fleet is a running set of cars.
type Fleet struct {
	cfg      Config
	addrs    []*net.TCPAddr
	loop     *loop
	cars     []*car
	stopping atomic.Bool
	ctx      context.Context
	cancel   context.CancelFunc
	done     chan struct{}

	connected, published, acked, errs, answered, disconnects, reconnects, connectFailures atomic.Int64

	latMu     sync.Mutex
	latencies []float64 // telemetry PUBACK latencies (ms) since the last TakeLatencies
	// how late the loop ran each telemetry tick (ms) since the last TakeTickLateness: the time a
	// PUBACK may wait in this process's socket before the loop reads it (its own CPU share)
	tickLate []float64
}

// New checks the config and starts the fleet's loop; Start connects the cars.
func New(cfg Config) (*Fleet, error) {
	switch {
	case len(cfg.Servers) == 0:
		return nil, errors.New("no broker address")
	case cfg.Cars < 0 || cfg.FirstCar < 0:
		return nil, errors.New("cars and first car must be ≥ 0")
	case cfg.VehicleID == nil || cfg.Password == nil:
		return nil, errors.New("VehicleID and Password are required")
	}
	if cfg.RampPerSecond <= 0 {
		cfg.RampPerSecond = 500
	}
	if cfg.Keepalive <= 0 {
		cfg.Keepalive = 60 * time.Second
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 30 * time.Second
	}
	if cfg.ReconnectPeriod <= 0 {
		cfg.ReconnectPeriod = 2 * time.Second
	}
	f := &Fleet{cfg: cfg, done: make(chan struct{})}
	for _, s := range cfg.Servers {
		a, err := net.ResolveTCPAddr("tcp", s)
		if err != nil {
			return nil, fmt.Errorf("broker %s: %w", s, err)
		}
		f.addrs = append(f.addrs, a)
	}
	for _, a := range cfg.SourceAddrs {
		if a.To4() == nil {
			return nil, fmt.Errorf("source address %s is not IPv4", a)
		}
	}
	for i := 0; i < cfg.Cars; i++ {
		id := cfg.VehicleID(cfg.FirstCar + i)
		pw, ok := cfg.Password(id)
		if !ok {
			return nil, fmt.Errorf("no credential for %s", id)
		}
		f.cars = append(f.cars, newCar(f, cfg.FirstCar+i, id, pw))
	}
	l, err := newLoop(f)
	if err != nil {
		return nil, err
	}
	f.loop = l
	for _, c := range f.cars {
		c.l = l
	}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	l.schedule(timer{at: time.Now().Add(cfg.Keepalive / 4).UnixNano(), kind: timerSweep})
	go func() {
		defer close(f.done)
		l.run()
	}()
	return f, nil
}

// Start connects the cars at RampPerSecond (in tenths of a second) and returns once all are
// started; it stops early when ctx ends or Stop is called.
func (f *Fleet) Start(ctx context.Context) {
	perTick := max(1, (f.cfg.RampPerSecond+5)/10)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := 0; i < len(f.cars); i += perTick {
		batch := f.cars[i:min(len(f.cars), i+perTick)]
		f.loop.do(func() {
			for _, c := range batch {
				c.connect()
			}
		})
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		case <-f.ctx.Done():
			return
		}
	}
}

// sweep sends PINGREQ for cars that sent nothing for half the keepalive [MQTT-3.1.2-23]; loop only.
func (f *Fleet) sweep(now int64) {
	for _, c := range f.cars {
		c.pingIfIdle(now, f.cfg.Keepalive/2)
	}
	f.loop.schedule(timer{at: now + int64(f.cfg.Keepalive/4), kind: timerSweep})
}

// Stop stops the telemetry, waits up to drain for PUBACKs in flight, and disconnects every car.
func (f *Fleet) Stop(drain time.Duration) {
	if f.stopping.Swap(true) {
		<-f.done
		return
	}
	deadline := time.Now().Add(drain)
	for time.Now().Before(deadline) && f.inflight() > 0 {
		time.Sleep(50 * time.Millisecond)
	}
	f.onLoop(func() {
		for _, c := range f.cars {
			c.disconnect()
		}
	})
	f.cancel()
	<-f.done
}

// onLoop runs fn on the loop and waits for it.
func (f *Fleet) onLoop(fn func()) {
	ran := make(chan struct{})
	select {
	case f.loop.reqs <- func() { fn(); close(ran) }:
		<-ran
	case <-f.done:
	}
}

func (f *Fleet) inflight() int {
	n := 0
	f.onLoop(func() {
		for _, c := range f.cars {
			n += len(c.inflight)
		}
	})
	return n
}

// Snapshot returns the counters.
func (f *Fleet) Snapshot() Stats {
	return Stats{
		Connected: f.connected.Load(), Published: f.published.Load(), Acked: f.acked.Load(), Errors: f.errs.Load(),
		CommandsAnswered: f.answered.Load(), Disconnects: f.disconnects.Load(), Reconnects: f.reconnects.Load(),
		ConnectFailures: f.connectFailures.Load(),
	}
}

// TakeLatencies returns the telemetry PUBACK latencies (ms) since the last call.
func (f *Fleet) TakeLatencies() []float64 { return f.take(&f.latencies) }

// TakeTickLateness returns how late the loop fired each telemetry tick (ms) since the last call:
// how long this process took to get to what was due, which a PUBACK read waits as well.
func (f *Fleet) TakeTickLateness() []float64 { return f.take(&f.tickLate) }

// take empties one of the loop's sample lists (under latMu) and returns what it held.
func (f *Fleet) take(list *[]float64) []float64 {
	f.latMu.Lock()
	defer f.latMu.Unlock()
	l := *list
	*list = nil
	return l
}

// Drop closes every car's connection abruptly (no DISCONNECT), as a broker crash or a load
// balancer reset would: a reconnect storm. The cars reconnect after their reconnect period.
func (f *Fleet) Drop() {
	f.onLoop(func() {
		for _, c := range f.cars {
			if c.fd >= 0 {
				c.close(errDropped)
			}
		}
	})
}

func (f *Fleet) jitter(d time.Duration) time.Duration {
	return d + time.Duration(rand.Int64N(int64(d)/2+1))
}
