package dispatch

import "testing"

func TestExplore(t *testing.T) {
	for _, nodes := range []int{1, 2, 4, 8} {
		s := setup(t, "h800", nodes, 4096, 8, 4, 1)
		cfg := DefaultConfig(nodes*8, 24)
		res, err := Run(s.cl, s.lay, cfg, fp8(t), 7168, Options{Verify: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("EP%d: time %v rdma %.1f nvl %.1f bottleneck %s IB %.2f/%.2f NVL %.2f/%.2f SM %.2f/%.2f events %d nodes/tok %.3f gpus/visit %.3f",
			nodes*8, res.Time, res.RDMAGBps, res.NVLGBps, res.Bottleneck, res.IB.Mean, res.IB.Max, res.NVLink.Mean, res.NVLink.Max, res.SM.Mean, res.SM.Max, res.Events,
			res.Routing.TargetNodesPerToken, res.Routing.GPUsPerNodeVisit)
	}
}
