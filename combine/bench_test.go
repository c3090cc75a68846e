package combine

import (
	"testing"

	"github.com/moesim/moesim/dispatch"
)

// BenchmarkCombineEP64 is DeepSeek-V3's training layout: 8 nodes of 8
// H800, 4096 tokens per GPU, top-8 of 256 experts on at most 4 nodes,
// DeepEP's default combine config at 24 SMs. One op is one simulated
// combine.
func BenchmarkCombineEP64(b *testing.B) {
	s := setup(b, "h800", 8, 4096, 8, 4, 1)
	cfg := dispatch.DefaultCombineConfig(64, 24)
	h := s.handle(cfg)
	bf16 := format(b, "bf16")
	var res *dispatch.Result
	b.ReportAllocs()
	for b.Loop() {
		s.cl.Reset()
		var err error
		if res, err = Run(s.cl, h, cfg, bf16, 7168, dispatch.Options{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(res.Events), "events/op")
	b.ReportMetric(res.Time.Microseconds(), "sim-µs/op")
}
