// Command fleet-cars is a simulated fleet in Go (package carfleet): the same cars, settings
// (FLEET_SIM_*) and 'fleet' report lines as services/simulator, at a fraction of its CPU per car,
// so `npm run soak` and benchmarks can use either (sim-procs.ts). Credentials come from a file of
// `vehicleId<TAB>password` lines (FLEET_SIM_CREDENTIALS_FILE): it never provisions cars itself.
// It runs until SIGTERM/SIGINT, then drains PUBACKs (≤ 10 s) and disconnects.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"fleet/loadtest/k6/xk6-mqtt/carfleet"
)

func main() {
	if err := run(); err != nil {
		logLine(60, "simulator failed to start", map[string]any{"err": err.Error()})
		os.Exit(1)
	}
}

func run() error {
	cars, err := intEnv("FLEET_SIM_CARS", 20)
	if err != nil {
		return err
	}
	first, err := intEnv("FLEET_SIM_FIRST_CAR", 0)
	if err != nil {
		return err
	}
	intervalMs, err := intEnv("FLEET_SIM_INTERVAL_MS", 1_000)
	if err != nil {
		return err
	}
	ramp, err := intEnv("FLEET_SIM_RAMP_PER_S", 500)
	if err != nil {
		return err
	}
	reportMs, err := intEnv("FLEET_SIM_REPORT_MS", 10_000)
	if err != nil {
		return err
	}
	seed, err := intEnv("FLEET_SIM_SEED", 1)
	if err != nil {
		return err
	}
	prefix := strEnv("FLEET_SIM_ID_PREFIX", "sim-car")
	samples := strEnv("FLEET_SIM_REPORT_SAMPLES", "false") == "true"
	servers, err := parseServers(strEnv("FLEET_SIM_MQTT_URL", "mqtt://127.0.0.1:1883"))
	if err != nil {
		return err
	}
	// FLEET_SIM_SOURCE_ADDRESSES=127.0.1.1,127.0.1.2: the local IPv4 addresses the cars connect
	// from, in turn (carfleet.Config.SourceAddrs); empty: the kernel's choice.
	var sources []net.IP
	for _, s := range strings.Split(strEnv("FLEET_SIM_SOURCE_ADDRESSES", ""), ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		ip := net.ParseIP(s) // IPv4 only: carfleet.New refuses others
		if ip == nil {
			return fmt.Errorf("FLEET_SIM_SOURCE_ADDRESSES: %q is not an IP address", s)
		}
		sources = append(sources, ip)
	}
	credFile := strEnv("FLEET_SIM_CREDENTIALS_FILE", "")
	if credFile == "" && cars > 0 {
		return fmt.Errorf("FLEET_SIM_CREDENTIALS_FILE is required (vehicleId<TAB>password lines: npm run provision -- --bulk)")
	}
	passwords, err := readCredentials(credFile)
	if err != nil {
		return err
	}
	fleet, err := carfleet.New(carfleet.Config{
		Servers:         servers,
		SourceAddrs:     sources,
		Cars:            cars,
		FirstCar:        first,
		VehicleID:       func(i int) string { return fmt.Sprintf("%s-%05d", prefix, i) },
		Password:        func(id string) (string, bool) { p, ok := passwords[id]; return p, ok },
		Interval:        time.Duration(intervalMs) * time.Millisecond,
		RampPerSecond:   ramp,
		Keepalive:       60 * time.Second,
		ConnectTimeout:  30 * time.Second,
		ReconnectPeriod: 2 * time.Second,
		Seed:            int64(seed),
	})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// FLEET_SIM_CPU_PROFILE=file: a pprof CPU profile of the whole run (go tool pprof file).
	if prof := strEnv("FLEET_SIM_CPU_PROFILE", ""); prof != "" {
		f, err := os.Create(prof)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	var lastAcked int64
	report := func() {
		l := fleet.TakeLatencies()
		slices.Sort(l)
		s := fleet.Snapshot()
		fields := map[string]any{
			"connected": s.Connected, "published": s.Published, "acked": s.Acked, "errors": s.Errors,
			"commandsAnswered": s.CommandsAnswered, "disconnects": s.Disconnects, "reconnects": s.Reconnects,
			"ackedPerS":   int64(math.Round(float64(s.Acked-lastAcked) / (float64(reportMs) / 1_000))),
			"pubackP50Ms": quantile(l, 0.5), "pubackP99Ms": quantile(l, 0.99),
		}
		late := fleet.TakeTickLateness()
		slices.Sort(late)
		fields["tickLateP99Ms"] = quantile(late, 0.99)
		if samples {
			fields["pubackSampleMs"] = evenSample(l, 500)
			fields["tickLateSampleMs"] = evenSample(late, 500)
		}
		lastAcked = s.Acked
		logLine(30, "fleet", fields)
	}
	if reportMs > 0 {
		// report runs on this goroutine only after Stop; until then on the ticker's.
		go func() {
			t := time.NewTicker(time.Duration(reportMs) * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					report()
				}
			}
		}()
	}
	fleet.Start(ctx)
	logLine(30, "simulated fleet started", map[string]any{"cars": cars, "failing": 0, "client": "go"})
	<-ctx.Done()
	fleet.Stop(10 * time.Second)
	report() // the final counts, after the last PUBACKs
	return nil
}

func parseServers(list string) ([]string, error) {
	var out []string
	for _, raw := range strings.Split(list, ",") {
		u, err := url.Parse(strings.TrimSpace(raw))
		if err != nil || u.Hostname() == "" || u.Scheme != "mqtt" {
			return nil, fmt.Errorf("FLEET_SIM_MQTT_URL: %q: the Go fleet speaks MQTT over TCP only (mqtt://host:port)", raw)
		}
		port := u.Port()
		if port == "" {
			port = "1883"
		}
		out = append(out, net.JoinHostPort(u.Hostname(), port))
	}
	return out, nil
}

func readCredentials(path string) (map[string]string, error) {
	out := map[string]string{}
	if path == "" {
		return out, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("FLEET_SIM_CREDENTIALS_FILE: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		id, pw, ok := strings.Cut(strings.TrimSpace(sc.Text()), "\t")
		if ok && id != "" && pw != "" {
			out[id] = pw
		}
	}
	return out, sc.Err()
}

func strEnv(name, fallback string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return fallback
}

func intEnv(name string, fallback int) (int, error) {
	raw := strEnv(name, "")
	if raw == "" {
		return fallback, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s=%s is not a whole number ≥ 0", name, raw)
	}
	return n, nil
}

func quantile(sorted []float64, p float64) any {
	if len(sorted) == 0 {
		return nil
	}
	return math.Round(sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]*10) / 10
}

// evenSample is at most n values spread evenly over sorted, as the Node simulator reports them.
func evenSample(sorted []float64, n int) []float64 {
	out := []float64{}
	step := math.Max(1, float64(len(sorted))/float64(n))
	for k := 0.0; int(k) < len(sorted); k += step {
		out = append(out, math.Round(sorted[int(k)]*100)/100)
	}
	return out
}

// logLine writes one pino-shaped JSON line (level, time, name, msg and fields) to stdout.
func logLine(level int, msg string, fields map[string]any) {
	fields["level"], fields["time"], fields["name"], fields["msg"] = level, time.Now().UnixMilli(), "simulator", msg
	b, _ := json.Marshal(fields)
	fmt.Println(string(b))
}
