package combine

import (
	"testing"

	"github.com/moesim/moesim/dispatch"
	"github.com/moesim/moesim/sim"
)

// TestCombineTakesTwiceDispatch: combine moves the same rows as dispatch
// in BF16 instead of FP8, so a bandwidth-bound combine takes about twice
// the dispatch's time on the same routing.
func TestCombineTakesTwiceDispatch(t *testing.T) {
	if testing.Short() {
		t.Skip("full-size runs")
	}
	for _, nodes := range []int{1, 4} {
		ranks := nodes * 8
		s := setup(t, "h800", nodes, 4096, 8, 4, 1)
		d, err := dispatch.Run(s.cl, s.lay, dispatch.DefaultConfig(ranks, 24), format(t, "fp8"), 7168, dispatch.Options{})
		if err != nil {
			t.Fatal(err)
		}
		c := s.combine(t, dispatch.DefaultCombineConfig(ranks, 24), dispatch.Options{})
		ratio := float64(c.Time) / float64(d.Time)
		t.Logf("EP%d: dispatch %v (%s), combine %v (%s), ratio %.3f", ranks, d.Time, d.Bottleneck, c.Time, c.Bottleneck, ratio)
		if ratio < 1.8 || ratio > 2.2 {
			t.Errorf("EP%d: combine/dispatch time = %.3f, want 1.8..2.2", ranks, ratio)
		}
		if c.Bottleneck == "SM copy" || c.Bottleneck == "latency" {
			t.Errorf("EP%d: combine bottleneck %q, want a link", ranks, c.Bottleneck)
		}
	}
}

// TestSMScaling: with too few SMs combine is bound by their copy and
// reduce rate and scales with them; past the knee the links bind and more
// SMs do not make it slower. (Beyond DeepEP's 24 SMs the model loses up to
// about 2%: with more channels each forwarder waits longer for the rows of
// its first whole RDMA chunk, since every channel shares the same NVLink.)
func TestSMScaling(t *testing.T) {
	if testing.Short() {
		t.Skip("full-size runs")
	}
	smCounts := []int{2, 4, 8, 12, 16, 20, 24}
	for _, nodes := range []int{2, 4} {
		ranks := nodes * 8
		s := setup(t, "h800", nodes, 4096, 8, 4, 1)
		times := make([]sim.Time, len(smCounts))
		best := sim.Forever
		for i, sms := range smCounts {
			res := s.combine(t, dispatch.DefaultCombineConfig(ranks, sms), dispatch.Options{})
			times[i] = res.Time
			bound := res.Bottleneck == "IB" || res.Bottleneck == "NVLink"
			t.Logf("EP%d %2d SMs: %v (%s)", ranks, sms, res.Time, res.Bottleneck)
			// Allow 1% for pipeline fill, which grows with channels.
			if bound && float64(res.Time) > 1.01*float64(best) {
				t.Errorf("EP%d: %d SMs take %v, slower than %v with fewer", ranks, sms, res.Time, best)
			}
			if !bound && i > 0 && float64(res.Time) > 0.8*float64(times[i-1]) {
				t.Errorf("EP%d: SM-bound at %d SMs but %v is not much faster than %v", ranks, sms, res.Time, times[i-1])
			}
			best = min(best, res.Time)
		}
		if r := float64(times[0]) / float64(times[len(times)-1]); r < 4 {
			t.Errorf("EP%d: 2 SMs only %.2fx slower than 24, want >= 4x", ranks, r)
		}
	}
}
