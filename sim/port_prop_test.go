package sim

import (
	"math/rand/v2"
	"testing"
)

// TestPortNeverBeatsItsBandwidth: whatever is offered, and whenever, the
// transfers a port serves never overlap, none starts before it was offered,
// and together they never move more bytes over any span than the
// bandwidth allows. 500 random schedules, seeded; sim's tests use only the
// standard library, like sim itself.
func TestPortNeverBeatsItsBandwidth(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 500 {
		bw := 1e6 + rng.Float64()*1e12
		p := NewPort("p", bw)
		n := 1 + rng.IntN(50)
		var now Time
		type span struct {
			start, end Time
			bytes      int64
		}
		var spans []span
		for i := range n {
			now += Time(rng.Int64N(5e6 + 1))
			bytes := 1 + rng.Int64N(1<<24)
			before := p.BusyUntil()
			end := p.Reserve(now, bytes)
			start := max(now, before)
			if end-start != TransferTime(bytes, bw) {
				t.Fatalf("offer %d: occupies %v for %d bytes, want %v", i, end-start, bytes, TransferTime(bytes, bw))
			}
			if len(spans) > 0 && start < spans[len(spans)-1].end {
				t.Fatalf("offer %d starts at %v, before the previous one ends at %v", i, start, spans[len(spans)-1].end)
			}
			spans = append(spans, span{start, end, bytes})
		}
		// Over [first start, last end] the bytes moved fit the bandwidth.
		var total int64
		for _, s := range spans {
			total += s.bytes
		}
		window := spans[len(spans)-1].end - spans[0].start
		if float64(total) > bw*window.Seconds()*(1+1e-9) {
			t.Fatalf("%d bytes in %v exceeds %g B/s", total, window, bw)
		}
		if p.BusyTime() > window || p.Bytes() != total {
			t.Fatalf("counters: busy %v over a %v window, bytes %d of %d", p.BusyTime(), window, p.Bytes(), total)
		}
	}
}
