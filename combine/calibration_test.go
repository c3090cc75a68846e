package combine

import (
	"math"
	"testing"

	"github.com/moesim/moesim/dispatch"
)

// TestCalibrationDeepEPV1 compares the model with DeepEP V1's published
// combine rows (README @ 3b1045d, reference §1.3): logical GB/s as DeepEP's
// tests count them, NVL for EP8 and RDMA across nodes, with DeepEP's
// default combine configs at 24 SMs. EP8-EP32 use uniform routing, which is
// what DeepEP's tests give there; EP64 uses the tests' group-limited routing
// (3.98 nodes per token).
//
// What is fitted, and on which row: no constant is fitted to a combine row,
// but two are fitted to dispatch rows and combine runs on them too.
// topology's NVLink kernel efficiency (0.87) is fitted to the EP8 intranode
// dispatch row (153 GB/s) and the NIC kernel efficiency (0.91) to the EP32
// internode dispatch row (58 GB/s) (docs/validation.md, "Constants and
// where they come from"). The EP8 and EP16 combine rows here are
// NVLink-bound and EP32 and EP64 IB-bound, so each moves one for one with
// the efficiency of its bound link: these rows are not independent of the
// dispatch fit. What they do test independently is what combine adds over
// dispatch at the same link rates: twice the bytes per row (BF16 against
// FP8), the reductions at the forwarder and at the source, and the reverse
// ring buffers and chunking.
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
