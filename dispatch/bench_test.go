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

// BenchmarkDispatchPerEvent runs the internode dispatch at sizes whose
// state differs by 64 times (2 to 16 nodes at 262,144 tokens in all, and 8
// nodes at 256 to 4096 tokens per GPU), reporting the time per event: if
// it stays flat while the state grows, the kernel's time is its work per
// event and not cache misses on its state (docs/performance.md, part 7).
func BenchmarkDispatchPerEvent(b *testing.B) {
	cases := []struct{ nodes, tokens int }{
		{2, 16384}, {4, 8192}, {8, 4096}, {16, 2048},
		{8, 256}, {8, 1024},
	}
	for _, c := range cases {
		b.Run(fmt.Sprintf("EP%d/tokens%d", c.nodes*8, c.tokens), func(b *testing.B) {
			s := setup(b, "h800", c.nodes, c.tokens, 8, min(4, c.nodes), 1)
			cfg := DefaultConfig(c.nodes*8, 24)
			f := fp8(b)
			var events int64
			for b.Loop() {
				s.cl.Reset()
				res, err := Run(s.cl, s.lay, cfg, f, 7168, Options{})
				if err != nil {
					b.Fatal(err)
				}
				events += res.Events
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(events), "ns/event")
		})
	}
}
