package dispatch

import (
	"testing"

	"pgregory.net/rapid"

	"github.com/moesim/moesim/internal/testroute"
	"github.com/moesim/moesim/topology"
)

// TestV2PropertyAnyShape runs V2 dispatch and combine, both paths, on
// random small clusters, routings, SM counts, max-perf settings and
// dispatch formats (a BF16 dispatch has fewer channels per SM, which its
// combine must reuse) with
// verification on: every run finishes (no stall), every row lands once and
// comes back (Verified), no rank's last landing is after the kernel's
// end, the epilogues are positive when rows moved, and only a run across
// nodes touches a NIC.
func TestV2PropertyAnyShape(t *testing.T) {
	formats := []Format{fp8(t), bf16(t)}
	bf := formats[1]
	rapid.Check(t, func(t *rapid.T) {
		nodes := rapid.IntRange(1, 3).Draw(t, "nodes")
		gpn := rapid.SampledFrom([]int{2, 4, 8}).Draw(t, "gpus_per_node")
		tokens := rapid.IntRange(1, 48).Draw(t, "tokens")
		topk := rapid.IntRange(1, 8).Draw(t, "topk")
		maxNodes := rapid.IntRange(1, nodes).Draw(t, "max_nodes")
		sms := rapid.IntRange(2, 16).Draw(t, "sms")
		path := rapid.SampledFrom([]V2Path{V2Hybrid, V2Direct}).Draw(t, "path")
		maxPerf := rapid.Bool().Draw(t, "max_perf")
		seed := rapid.Uint64().Draw(t, "seed")
		fp := rapid.SampledFrom(formats).Draw(t, "dispatch_format")

		cfg, err := topology.Preset("h800")
		if err != nil {
			t.Fatal(err)
		}
		cfg.Nodes, cfg.GPUsPerNode = nodes, gpn
		ranks := nodes * gpn
		experts := 8 * ranks
		k, ids := testroute.Uniform(seed, nodes, gpn, tokens, experts, topk, maxNodes)
		p, err := ContiguousPlacement(experts, ranks)
		if err != nil {
			t.Fatal(err)
		}
		lay, err := NewLayout(Routing{TopK: k, Experts: ids}, p, nodes, gpn, experts)
		if err != nil {
			t.Fatal(err)
		}
		cl := topology.Build(cfg)
		c := Config{Mode: V2, NumSMs: sms, V2Path: path, V2MaxPerf: maxPerf}
		d, err := Run(cl, lay, c, fp, 7168, Options{Verify: true})
		if err != nil {
			t.Fatalf("dispatch: %v", err)
		}
		cl.Reset()
		cb, err := V2Combine(cl, d.Handle, c, bf, 7168, Options{Verify: true})
		if err != nil {
			t.Fatalf("combine: %v", err)
		}
		for _, r := range []*Result{d, cb} {
			for rank, f := range r.RankFinish {
				if f > r.Time {
					t.Fatalf("rank %d's last landing %v is after the kernel's end %v", rank, f, r.Time)
				}
			}
			if r.EpilogueTime <= 0 {
				t.Fatalf("epilogue %v, want > 0", r.EpilogueTime)
			}
			if nodes == 1 && r.IBBytes != 0 {
				t.Fatalf("one node moved %d IB bytes", r.IBBytes)
			}
		}
	})
}
