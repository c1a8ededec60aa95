// Command model-dump prints the messages of the Go load generator's car model (package carfleet,
// a port of services/shared/src/vehicle-model.ts), for test/go-model-parity.test.ts and
// bench/load-model-alarms.ts. It reads a JSON array of cars on stdin and prints their messages as
// JSON lines, time-major: every car's first message, then every car's second, and so on.
//
//	[{"vehicleId": "car-1", "seed": 7, "intervalMs": 10000, "ts0": 1700000000000, "n": 120,
//	  "failure": {"mode": "coolant_leak", "onsetS": 300}, "coldStart": false, "firstSeq": 0}]
//
// Message k of a car is its k-th Append with now = ts0 + k·intervalMs.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"fleet/loadtest/k6/xk6-mqtt/carfleet"
)

type spec struct {
	VehicleID  string `json:"vehicleId"`
	Seed       int64  `json:"seed"`
	IntervalMs int64  `json:"intervalMs"`
	Ts0        int64  `json:"ts0"`
	N          int    `json:"n"`
	Failure    *struct {
		Mode     string  `json:"mode"`
		OnsetS   float64 `json:"onsetS"`
		DevelopS float64 `json:"developS"`
	} `json:"failure"`
	ColdStart *bool `json:"coldStart"`
	FirstSeq  int64 `json:"firstSeq"`
}

func main() {
	var specs []spec
	if err := json.NewDecoder(os.Stdin).Decode(&specs); err != nil {
		fmt.Fprintln(os.Stderr, "model-dump: stdin:", err)
		os.Exit(2)
	}
	models := make([]*carfleet.Model, len(specs))
	most := 0
	for i, s := range specs {
		o := carfleet.ModelOptions{Seed: s.Seed, Interval: time.Duration(s.IntervalMs) * time.Millisecond, FirstSeq: s.FirstSeq}
		if s.Failure != nil {
			o.Failure = carfleet.ModelFailure{Mode: s.Failure.Mode, OnsetS: s.Failure.OnsetS, DevelopS: s.Failure.DevelopS}
		}
		o.Warm = s.ColdStart != nil && !*s.ColdStart
		models[i] = carfleet.NewModelWith(s.VehicleID, o)
		most = max(most, s.N)
	}
	w := bufio.NewWriterSize(os.Stdout, 1<<16)
	var b []byte
	for k := 0; k < most; k++ {
		for i, s := range specs {
			if k < s.N {
				b = append(models[i].Append(b[:0], time.UnixMilli(s.Ts0+int64(k)*s.IntervalMs)), '\n')
				_, _ = w.Write(b)
			}
		}
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "model-dump:", err)
		os.Exit(1)
	}
}
