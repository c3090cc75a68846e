package sim

import (
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

// TestPortNeverBeatsItsBandwidth offers random transfers to a port and
// checks what the port reports (each transfer's completion time) against
// bounds that do not use the port's own arithmetic:
//   - over any window (a, b], the bytes of the transfers that complete in
//     it are at most bandwidth × (b − a) plus one transfer's bytes (the one
//     that may have started before a);
//   - no transfer completes sooner after its offer than its bytes over the
//     bandwidth;
//   - the port does not idle with work waiting: the last completion is no
//     later than the latest of (an offer time + the bytes offered from then
//     on, over the bandwidth), with a picosecond of rounding per transfer;
//   - its counters add up: Bytes is the bytes offered, BusyTime fits in the
//     span from the first offer to the last completion.
//
// 500 random schedules, seeded; sim's tests use only the standard library,
// like sim itself.
func TestPortNeverBeatsItsBandwidth(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 500 {
		bw := 1e6 + rng.Float64()*1e12
		p := NewPort("p", bw)
		n := 1 + rng.IntN(50)
		type transfer struct {
			offer, end Time
			bytes      int64
		}
		xs := make([]transfer, n)
		var now Time
		var total, biggest int64
		for i := range xs {
			now += Time(rng.Int64N(5e6 + 1))
			bytes := 1 + rng.Int64N(1<<24)
			xs[i] = transfer{offer: now, end: p.Reserve(now, bytes), bytes: bytes}
			total += bytes
			biggest = max(biggest, bytes)
		}
		secs := func(d Time) float64 { return float64(d) / 1e12 }

		for i, x := range xs {
			if got, min := secs(x.end-x.offer), float64(x.bytes)/bw; got < min*(1-1e-12) {
				t.Fatalf("trial %d, transfer %d: %d bytes done %gs after the offer, faster than %g B/s allows (%gs)",
					trial, i, x.bytes, got, bw, min)
			}
		}

		// Bytes completed by each completion time, in completion order.
		byEnd := slices.Clone(xs)
		slices.SortStableFunc(byEnd, func(a, b transfer) int { return int(a.end - b.end) })
		ends := make([]Time, n)
		done := make([]int64, n+1) // done[k]: bytes of the first k to complete
		for k, x := range byEnd {
			ends[k] = x.end
			done[k+1] = done[k] + x.bytes
		}
		completedBy := func(at Time) int64 { // bytes of transfers ending at or before at
			return done[sort.Search(n, func(k int) bool { return ends[k] > at })]
		}
		starts := []Time{0}
		for _, x := range xs {
			starts = append(starts, x.offer, x.end)
		}
		for _, a := range starts {
			for _, b := range ends {
				if b <= a {
					continue
				}
				moved := completedBy(b) - completedBy(a)
				if limit := bw*secs(b-a)*(1+1e-9) + float64(biggest); float64(moved) > limit {
					t.Fatalf("trial %d: %d bytes completed in (%v, %v], more than %g B/s × %v + one transfer (%d bytes)",
						trial, moved, a, b, bw, b-a, biggest)
				}
			}
		}

		// A work-conserving FIFO server finishes by the latest offer time
		// plus the work offered from then on.
		var last Time
		for _, x := range xs {
			last = max(last, x.end)
		}
		var bound float64
		for i := range xs {
			var rest int64
			for _, x := range xs[i:] {
				rest += x.bytes
			}
			bound = max(bound, secs(xs[i].offer)+float64(rest)/bw)
		}
		if slack := float64(n) * 1e-12; secs(last) > bound*(1+1e-12)+slack {
			t.Fatalf("trial %d: last transfer done at %v, later than a busy port would finish (%gs)", trial, last, bound)
		}

		if p.Bytes() != total {
			t.Fatalf("trial %d: Bytes() = %d, want the %d offered", trial, p.Bytes(), total)
		}
		if span := last - xs[0].offer; p.BusyTime() > span {
			t.Fatalf("trial %d: busy %v in a %v span from the first offer to the last completion", trial, p.BusyTime(), span)
		}
	}
}
