package dispatch

import (
	"fmt"
	"testing"

	"github.com/moesim/moesim/topology"
)

func benchDispatch(b *testing.B, nodes int) {
	s := setup(b, "h800", nodes, 4096, 8, 4, 1)
	cfg := DefaultConfig(nodes*8, 24)
	f := fp8(b)
	var events int64
	b.ReportAllocs()
	for b.Loop() {
		s.cl.Reset()
		res, err := Run(s.cl, s.lay, cfg, f, 7168, Options{})
		if err != nil {
			b.Fatal(err)
		}
		events = res.Events
	}
	b.ReportMetric(float64(events), "events/run")
	b.ReportMetric(float64(events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkDispatch runs DeepEP's benchmark setups: 4096 tokens per GPU,
// top-8 of 256, 24 SMs.
func BenchmarkDispatch(b *testing.B) {
	b.Run("EP8", func(b *testing.B) { benchDispatch(b, 1) })
	b.Run("EP64", func(b *testing.B) { benchDispatch(b, 8) })
}

// BenchmarkAllToAll is the plain all-to-allv baseline on the h800 preset,
// every GPU sending 4096 tokens spread evenly over every GPU.
func BenchmarkAllToAll(b *testing.B) {
	for _, nodes := range []int{1, 8} {
		b.Run(fmt.Sprintf("GPUs%d", nodes*8), func(b *testing.B) {
			cfg, _ := topology.Preset("h800")
			cfg.Nodes = nodes
			cl := topology.Build(cfg)
			ranks := cfg.GPUs()
			rt := Routing{TopK: 1, Experts: make([][]int32, ranks)}
			for r := range ranks {
				for tok := range 4096 {
					rt.Experts[r] = append(rt.Experts[r], int32((r+tok)%ranks))
				}
			}
			p, _ := ContiguousPlacement(ranks, ranks)
			lay, err := NewLayout(rt, p, nodes, 8, ranks)
			if err != nil {
				b.Fatal(err)
			}
			kc := DefaultConfig(ranks, 20)
			kc.Mode = AllToAll
			var events int64
			b.ReportAllocs()
			for b.Loop() {
				cl.Reset()
				res, err := Run(cl, lay, kc, fp8(b), 7168, Options{})
				if err != nil {
					b.Fatal(err)
				}
				events = res.Events
			}
			b.ReportMetric(float64(events), "events/run")
		})
	}
}
