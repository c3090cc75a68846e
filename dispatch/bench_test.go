package dispatch

import "testing"

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
