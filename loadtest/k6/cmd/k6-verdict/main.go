// Command k6-verdict gives one verdict for a distributed k6 run of cars.ts: it reads the summary
// each runner wrote (handleSummary: counters, rates and mergeable histograms, plus the limits the
// script was given), adds them up, and judges the limits on the whole fleet — not per runner, as
// k6's own thresholds would. It also checks that every car of the test is in some summary (a
// runner that died without one fails the run). Exit 0: pass; 99: a limit failed (as k6); 2: bad
// input.
//
//	k6-verdict [-set name=value ...] [-out verdict.json] <summary.json | directory> ...
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"

	mqtt "fleet/loadtest/k6/xk6-mqtt"
)

// Summary is what cars.ts's handleSummary writes per runner.
type Summary struct {
	Format     string                      `json:"format"`
	Instance   string                      `json:"instance"`
	Limits     map[string]float64          `json:"limits"`
	Counters   map[string]float64          `json:"counters"`
	Rates      map[string]Rate             `json:"rates"`
	Histograms map[string]map[string]int64 `json:"histograms"`
}

// Rate is a k6 Rate's passes (non-zero samples) and fails (zero samples).
type Rate struct {
	Passes float64 `json:"passes"`
	Fails  float64 `json:"fails"`
}

// Check is one judged limit.
type Check struct {
	Name  string  `json:"name"`
	Value any     `json:"value"` // null when nothing was measured
	Op    string  `json:"op"`
	Limit float64 `json:"limit"`
	Pass  bool    `json:"pass"`
}

const format = "fleet-k6-summary/1"

type sets map[string]float64

func (s sets) String() string { return fmt.Sprint(map[string]float64(s)) }
func (s sets) Set(v string) error {
	k, raw, ok := strings.Cut(v, "=")
	n, err := strconv.ParseFloat(raw, 64)
	if !ok || err != nil {
		return fmt.Errorf("-set %q: want name=number", v)
	}
	s[k] = n
	return nil
}

func main() {
	overrides := sets{}
	flag.Var(overrides, "set", "override a limit, name=value (repeatable)")
	out := flag.String("out", "", "also write the verdict to this file")
	flag.Parse()
	summaries, err := load(flag.Args())
	if err != nil {
		fmt.Fprintln(os.Stderr, "k6-verdict:", err)
		os.Exit(2)
	}
	v, err := judge(summaries, overrides)
	if err != nil {
		fmt.Fprintln(os.Stderr, "k6-verdict:", err)
		os.Exit(2)
	}
	b, _ := json.MarshalIndent(v, "", "  ")
	fmt.Println(string(b))
	if *out != "" {
		if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "k6-verdict:", err)
			os.Exit(2)
		}
	}
	if !v.Pass {
		os.Exit(99)
	}
}

func load(args []string) ([]Summary, error) {
	var files []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if st.IsDir() {
			m, _ := filepath.Glob(filepath.Join(a, "*.json"))
			files = append(files, m...)
		} else {
			files = append(files, a)
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no summary files (usage: k6-verdict <summary.json | dir> ...)")
	}
	var out []Summary
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var s Summary
		if err := json.Unmarshal(b, &s); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		if s.Format != format {
			continue // another file in the directory (a verdict, k6's own export)
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no %s files among %s", format, strings.Join(files, ", "))
	}
	return out, nil
}

// Verdict is the merged result.
type Verdict struct {
	Pass        bool               `json:"pass"`
	Runners     []string           `json:"runners"`
	Checks      []Check            `json:"checks"`
	Counters    map[string]float64 `json:"counters"`
	Rates       map[string]Rate    `json:"rates"`
	Percentiles map[string]any     `json:"percentilesMs"`
}

func judge(ss []Summary, overrides sets) (*Verdict, error) {
	limits := ss[0].Limits
	for _, s := range ss[1:] {
		if !reflect.DeepEqual(s.Limits, limits) {
			return nil, fmt.Errorf("runners %s and %s ran with different limits", ss[0].Instance, s.Instance)
		}
	}
	for k, n := range overrides {
		limits[k] = n
	}
	v := &Verdict{Pass: true, Counters: map[string]float64{}, Rates: map[string]Rate{}, Percentiles: map[string]any{}}
	hist := map[string]map[int]int64{}
	for _, s := range ss {
		v.Runners = append(v.Runners, s.Instance)
		for k, n := range s.Counters {
			v.Counters[k] += n
		}
		for k, r := range s.Rates {
			t := v.Rates[k]
			t.Passes += r.Passes
			t.Fails += r.Fails
			v.Rates[k] = t
		}
		for name, buckets := range s.Histograms {
			if hist[name] == nil {
				hist[name] = map[int]int64{}
			}
			for b, n := range buckets {
				i, err := strconv.Atoi(b)
				if err != nil {
					return nil, fmt.Errorf("%s: histogram %s: bucket %q", s.Instance, name, b)
				}
				hist[name][i] += n
			}
		}
	}
	q := func(name string, p float64) float64 {
		x := mqtt.Quantile(hist[name], p)
		if math.IsNaN(x) {
			return math.Inf(1) // no samples at all: nothing measured, nothing passes
		}
		return math.Round(x*100) / 100
	}
	for name := range hist {
		v.Percentiles[name] = map[string]any{"p50": finite(q(name, 0.5)), "p95": finite(q(name, 0.95)), "p99": finite(q(name, 0.99))}
	}
	rate := func(name string) float64 {
		r := v.Rates[name]
		if r.Passes+r.Fails == 0 {
			return math.NaN()
		}
		return r.Passes / (r.Passes + r.Fails)
	}
	check := func(name string, value float64, op string, limitKey string) {
		limit, ok := limits[limitKey]
		if !ok {
			return
		}
		pass := !math.IsNaN(value) && map[string]bool{"<": value < limit, "<=": value <= limit, ">=": value >= limit, "==": value == limit}[op]
		v.Checks = append(v.Checks, Check{Name: name, Value: finite(value), Op: op, Limit: limit, Pass: pass})
		v.Pass = v.Pass && pass
	}
	online := v.Rates["cars_online"]
	check("cars in the summaries (every runner reported)", online.Passes+online.Fails, "==", "cars")
	check("cars_online rate", rate("cars_online"), ">=", "minOnlineRate")
	check("mqtt_connect_errors count", v.Counters["mqtt_connect_errors"], "<=", "maxConnectErrors")
	check("cars_connection_lost count (not planned)", v.Counters["cars_connection_lost"], "<=", "maxLost")
	check("telemetry_failed rate", rate("telemetry_failed"), "<=", "maxErrorRate")
	// The latency targets hold for every PUBACK outside a reconnect storm (k6/x/mqtt keeps those
	// apart); one percentile over both would mostly say how long the storm was against the test.
	// Summaries of a run without a storm, or from before the split, have only the whole histogram.
	calm := "mqtt_puback_duration"
	if _, split := hist["mqtt_puback_duration_outside_storm"]; split {
		calm = "mqtt_puback_duration_outside_storm"
	}
	check(calm+" p95 (ms)", q(calm, 0.95), "<", "pubackP95Ms")
	check(calm+" p99 (ms)", q(calm, 0.99), "<", "pubackP99Ms")
	if _, storm := limits["stormReconnectP99Ms"]; storm {
		check("storm_cars_back rate", rate("storm_cars_back"), ">=", "minOnlineRate")
		check("storm_reconnect_duration p99 (ms)", q("storm_reconnect_duration", 0.99), "<", "stormReconnectP99Ms")
		if _, ok := hist["mqtt_puback_duration_storm"]; ok {
			check("mqtt_puback_duration_storm p99 (ms)", q("mqtt_puback_duration_storm", 0.99), "<", "stormPubackP99Ms")
		}
	}
	return v, nil
}

// finite is x, or nil (JSON null) for NaN and ±Inf, which JSON cannot hold.
func finite(x float64) any {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return x
}
