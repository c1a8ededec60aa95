package mqtt

import (
	"math"
	"sort"
	"strconv"
	"sync"
)

// Histograms of durations that outlive a runner: k6's own Trend summary (p95, p99) cannot be
// merged across the runners of a distributed test, these can. Buckets grow by 1 % (so any
// percentile read from them is within 1 % of the exact one); a summary carries them as
// {bucket index: count} maps, and the verdict (cmd/k6-verdict) adds the maps of all runners.
// One set per k6 process: every VU of the runner records into it.
type histograms struct {
	mu sync.Mutex
	by map[string]map[int]int64
}

var runnerHistograms = &histograms{by: map[string]map[int]int64{}}

// growth is the ratio between neighbouring bucket bounds.
const growth = 1.01

// bucketOf is the bucket of a duration in milliseconds; bucket b holds (growth^(b-1), growth^b].
// Durations up to 1 µs share the lowest bucket.
func bucketOf(ms float64) int {
	if ms <= 0.001 {
		return int(math.Ceil(math.Log(0.001) / math.Log(growth)))
	}
	return int(math.Ceil(math.Log(ms) / math.Log(growth)))
}

// BucketUpper is the upper bound (ms) of bucket b.
func BucketUpper(b int) float64 { return math.Pow(growth, float64(b)) }

func (h *histograms) add(name string, ms float64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := h.by[name]
	if m == nil {
		m = map[int]int64{}
		h.by[name] = m
	}
	m[bucketOf(ms)]++
}

// snapshot is {name: {bucket: count}} with the buckets as strings, for JSON.
func (h *histograms) snapshot() map[string]map[string]int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]map[string]int64{}
	for name, m := range h.by {
		o := map[string]int64{}
		for b, n := range m {
			o[strconv.Itoa(b)] = n
		}
		out[name] = o
	}
	return out
}

// Quantile is the upper bound of the bucket holding quantile q of the counts (ms); NaN if empty.
func Quantile(buckets map[int]int64, q float64) float64 {
	var total int64
	keys := make([]int, 0, len(buckets))
	for b, n := range buckets {
		total += n
		keys = append(keys, b)
	}
	if total == 0 {
		return math.NaN()
	}
	sort.Ints(keys)
	rank := int64(math.Ceil(q * float64(total)))
	var seen int64
	for _, b := range keys {
		seen += buckets[b]
		if seen >= rank {
			return BucketUpper(b)
		}
	}
	return BucketUpper(keys[len(keys)-1])
}
