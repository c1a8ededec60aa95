// Package mqtt is fleet's k6 extension: an MQTT 3.1.1 client (Eclipse Paho) exposed to scripts as
// `k6/x/mqtt`, with PUBACK-timed publishes and message callbacks delivered on the VU's event loop.
// A VU may hold many clients, so a handful of VUs can simulate thousands of cars.
package mqtt

import (
	"errors"
	"fmt"

	"github.com/grafana/sobek"

	"go.k6.io/k6/js/common"
	"go.k6.io/k6/js/modules"
)

func init() {
	modules.Register("k6/x/mqtt", new(RootModule))
}

// RootModule is the global module; it makes one ModuleInstance per VU.
type RootModule struct{}

// ModuleInstance is the module as one VU sees it.
type ModuleInstance struct {
	vu      modules.VU
	metrics *clientMetrics
}

var (
	_ modules.Module   = &RootModule{}
	_ modules.Instance = &ModuleInstance{}
)

// NewModuleInstance registers the metrics (idempotent across VUs) and returns the VU's instance.
func (*RootModule) NewModuleInstance(vu modules.VU) modules.Instance {
	m, err := registerMetrics(vu.InitEnv().Registry)
	if err != nil {
		common.Throw(vu.Runtime(), fmt.Errorf("k6/x/mqtt: registering metrics: %w", err))
	}
	return &ModuleInstance{vu: vu, metrics: m}
}

// Exports: `import { Client, histograms, phase, record } from 'k6/x/mqtt'` (also as the default
// export's members). histograms() returns this process's mergeable duration histograms
// (histogram.go) for handleSummary; record(name, ms) adds a script's own duration to them;
// phase(name) names the part of the test the process is in from now on ("ramp", "steady"), and
// PUBACKs outside a storm are also kept per phase (mqtt_puback_duration_outside_storm_<name>).
func (mi *ModuleInstance) Exports() modules.Exports {
	named := map[string]any{
		"Client":     mi.newClient,
		"histograms": runnerHistograms.snapshot,
		"record":     func(name string, ms float64) { runnerHistograms.add(name, ms) },
		"phase":      setPhase,
	}
	return modules.Exports{Named: named, Default: named}
}

// newClient is the JS constructor `new Client(options)`. Clients need the VU's state (metrics,
// dialer, tags), so they are made in setup/default/scenario functions, not in the init context.
func (mi *ModuleInstance) newClient(call sobek.ConstructorCall) *sobek.Object {
	rt := mi.vu.Runtime()
	if mi.vu.State() == nil {
		common.Throw(rt, errors.New("k6/x/mqtt: new Client() must be called in a VU function, not in the init context"))
	}
	opts, err := parseClientOptions(rt, call.Argument(0))
	if err != nil {
		common.Throw(rt, fmt.Errorf("k6/x/mqtt: %w", err))
	}
	c := newClient(mi.vu, mi.metrics, opts)
	return rt.ToValue(c).ToObject(rt)
}
