package mqtt

import (
	"math"
	"testing"
)

// Percentiles read from merged histograms are within 1 % of the exact ones.
func TestHistogramQuantileWithinOnePercent(t *testing.T) {
	a, b := map[int]int64{}, map[int]int64{}
	var all []float64
	for i := 1; i <= 10_000; i++ {
		ms := float64(i) * 0.37
		all = append(all, ms)
		if i%2 == 0 {
			a[bucketOf(ms)]++
		} else {
			b[bucketOf(ms)]++
		}
	}
	merged := map[int]int64{}
	for _, h := range []map[int]int64{a, b} {
		for k, n := range h {
			merged[k] += n
		}
	}
	for _, q := range []float64{0.5, 0.95, 0.99} {
		exact := all[int(math.Ceil(q*float64(len(all))))-1]
		got := Quantile(merged, q)
		if got < exact || got > exact*1.0101 {
			t.Fatalf("p%v: %v, exact %v", q*100, got, exact)
		}
	}
	if !math.IsNaN(Quantile(map[int]int64{}, 0.5)) {
		t.Fatal("an empty histogram has no percentile")
	}
}
