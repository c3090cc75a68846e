package combine

import (
	"math"
	"testing"

	"github.com/moesim/moesim/dispatch"
)

// TestCalibrationDeepEPV1 compares the model with DeepEP V1's published
// combine rows (README @ 3b1045d, reference §1.3): logical GB/s as DeepEP's
// tests count them, NVL for EP8 and RDMA across nodes, with DeepEP's
// default combine configs at 24 SMs. Nothing is fitted to these rows: the
// constants are dispatch's. EP8-EP32 use uniform routing, which is what
// DeepEP's tests give there; EP64 uses the tests' group-limited routing
// (3.98 nodes per token).
func TestCalibrationDeepEPV1(t *testing.T) {
	if testing.Short() {
		t.Skip("full-size runs")
	}
	const tolerance = 0.15
	rows := []struct {
		nodes     int
		published float64
	}{{1, 158}, {2, 43}, {4, 57}, {8, 50}}
	for _, row := range rows {
		ranks := row.nodes * 8
		var s testSetup
		if row.nodes == 8 {
			s = setupRouting(t, "h800", row.nodes, deepepRouting(1, row.nodes, 8, 4096, 256, 8, 4))
		} else {
			s = setup(t, "h800", row.nodes, 4096, 8, 4, 1)
		}
		res := s.combine(t, dispatch.DefaultCombineConfig(ranks, 24), dispatch.Options{})
		got := res.RDMAGBps
		if row.nodes == 1 {
			got = res.NVLGBps
		}
		dev := got/row.published - 1
		t.Logf("EP%d: %.1f GB/s, DeepEP %.0f (%+.1f%%), %.3f nodes/token, %v, %s-bound",
			ranks, got, row.published, 100*dev, res.Routing.TargetNodesPerToken, res.Time, res.Bottleneck)
		if math.Abs(dev) > tolerance {
			t.Errorf("EP%d: %.1f GB/s is %+.1f%% from DeepEP's %.0f, want within %.0f%%", ranks, got, 100*dev, row.published, 100*tolerance)
		}
	}
}
