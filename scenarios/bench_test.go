package scenarios

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkScale runs the whole of Run (routing, layout, dispatch, combine,
// compute, schedule) at 256 tokens per GPU, top-8 of max(256, ranks)
// experts, for each mode at EP64 to EP2048: the time per op over the
// rank count is the cost per rank, flat when a run scales linearly.
// EP2048 takes tens of seconds: run it alone, with -benchtime 1x.
func BenchmarkScale(b *testing.B) {
	for _, mode := range []string{"normal", "alltoall", "low-latency"} {
		for _, nodes := range []int{8, 32, 64, 256} {
			ranks := nodes * 8
			b.Run(fmt.Sprintf("%s/EP%d", mode, ranks), func(b *testing.B) {
				y := fmt.Sprintf("cluster: {nodes: %d}\nmodel: {experts: %d}\nworkload: {tokens_per_gpu: 256}\nkernel: {mode: %s, num_sms: 24, extrapolate: true}\n",
					nodes, max(256, ranks), mode)
				s, err := Decode(strings.NewReader(y))
				if err != nil {
					b.Fatal(err)
				}
				var res *Result
				b.ReportAllocs()
				for b.Loop() {
					if res, err = Run(s, RunOptions{}); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(res.Dispatch.Events+res.Combine.Events), "events/op")
			})
		}
	}
}
