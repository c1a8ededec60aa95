package mqtt

import (
	"context"
	"time"

	"go.k6.io/k6/metrics"
)

// clientMetrics are the extension's custom k6 metrics, shared by all VUs (the registry returns
// the same metric when a name is registered again with the same type).
type clientMetrics struct {
	connects        *metrics.Metric
	connectErrors   *metrics.Metric
	connectDuration *metrics.Metric
	connectionsLost *metrics.Metric
	publishes       *metrics.Metric
	publishErrors   *metrics.Metric
	pubackDuration  *metrics.Metric
	received        *metrics.Metric
}

func registerMetrics(r *metrics.Registry) (*clientMetrics, error) {
	m := &clientMetrics{}
	for _, d := range []struct {
		into  **metrics.Metric
		name  string
		typ   metrics.MetricType
		value []metrics.ValueType
	}{
		{&m.connects, "mqtt_connects", metrics.Counter, nil},
		{&m.connectErrors, "mqtt_connect_errors", metrics.Counter, nil},
		{&m.connectDuration, "mqtt_connect_duration", metrics.Trend, []metrics.ValueType{metrics.Time}},
		{&m.connectionsLost, "mqtt_connections_lost", metrics.Counter, nil},
		{&m.publishes, "mqtt_publishes", metrics.Counter, nil},
		{&m.publishErrors, "mqtt_publish_errors", metrics.Counter, nil},
		{&m.pubackDuration, "mqtt_puback_duration", metrics.Trend, []metrics.ValueType{metrics.Time}},
		{&m.received, "mqtt_messages_received", metrics.Counter, nil},
	} {
		metric, err := r.NewMetric(d.name, d.typ, d.value...)
		if err != nil {
			return nil, err
		}
		*d.into = metric
	}
	return m, nil
}

// emitter pushes samples with the tags the VU had when the client was made. It is safe to use
// from Paho's goroutines: it only touches the samples channel, and drops samples once the VU's
// context is done (as k6's own modules do).
type emitter struct {
	ctx     context.Context
	samples chan<- metrics.SampleContainer
	tags    metrics.TagsAndMeta
	// The VU's tags plus storm:true / storm:false, for PUBACK samples (thresholds such as
	// `mqtt_puback_duration{storm:false}` judge the test outside the reconnect storm).
	stormTags, calmTags *metrics.TagSet
}

func newEmitter(ctx context.Context, samples chan<- metrics.SampleContainer, tags metrics.TagsAndMeta) emitter {
	return emitter{ctx: ctx, samples: samples, tags: tags, stormTags: tags.Tags.With("storm", "true"), calmTags: tags.Tags.With("storm", "false")}
}

func (e emitter) push(m *metrics.Metric, value float64) { e.pushTagged(m, e.tags.Tags, value) }

func (e emitter) pubackDuration(m *metrics.Metric, d time.Duration, storm bool) {
	tags := e.calmTags
	if storm {
		tags = e.stormTags
	}
	e.pushTagged(m, tags, metrics.D(d))
}

func (e emitter) pushTagged(m *metrics.Metric, tags *metrics.TagSet, value float64) {
	metrics.PushIfNotDone(e.ctx, e.samples, metrics.Sample{
		TimeSeries: metrics.TimeSeries{Metric: m, Tags: tags},
		Time:       time.Now(),
		Metadata:   e.tags.Metadata,
		Value:      value,
	})
}

func (e emitter) count(m *metrics.Metric) { e.push(m, 1) }

func (e emitter) duration(m *metrics.Metric, d time.Duration) { e.push(m, metrics.D(d)) }
