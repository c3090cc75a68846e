package report

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/moesim/moesim/sim"
)

// Link-utilization counters of a trace: the busy share of each GPU's
// ports per time bucket, computed as the engine's ports compute it (and
// the JSON report's port_util with them): each record that crossed a link
// occupies its port first come first served, from when it was offered (or
// when the port freed up) for its bytes at the port's rate, plus the NIC's
// per-message time on IB. A bucket's value is the port's busy time in it
// over its width, so it never exceeds 1, and its sum over a kernel's span
// is the JSON's utilization of that port.
//
// Invariants: every kept rank's series hold at most maxCounterBuckets
// buckets of width bucketPs; lastBucket is the last bucket with busy time;
// free[rank][series] is when that port finishes what it was offered.

// Counter series, in output order.
const (
	ctrIBOut = iota
	ctrIBIn
	ctrNVLOut
	ctrNVLIn
	numCounters
)

var counterNames = [numCounters]string{"ib_out", "ib_in", "nvlink_out", "nvlink_in"}

// count books a record's occupancy of one port of rank (series) and
// spreads that busy time over the buckets it covers.
func (t *Trace) count(rank, series int, r sim.Record) {
	if rank < 0 || rank >= t.ranks || !t.keep[rank] || r.Bytes <= 0 {
		return
	}
	bps, offer, extra := t.nvlBps, r.At, sim.Time(0)
	if series == ctrIBOut || series == ctrIBIn {
		// An RDMA write is posted after the chunk's fence and holds
		// each NIC for two messages (the write and the tail update).
		bps, offer, extra = t.nicBps, r.At+t.handshake, 2*t.msg
	}
	free := &t.free[rank][series]
	start := max(offer, *free)
	end := start + sim.TransferTime(r.Bytes, bps) + extra
	*free = end
	for end/t.bucketPs >= maxCounterBuckets {
		t.coarsen()
	}
	c := &t.counters[rank][series]
	last := int((end - 1) / t.bucketPs)
	for len(*c) <= last {
		*c = append(*c, 0)
	}
	t.lastBucket = max(t.lastBucket, last)
	for b := int(start / t.bucketPs); b <= last; b++ {
		lo := max(start, sim.Time(b)*t.bucketPs)
		hi := min(end, sim.Time(b+1)*t.bucketPs)
		if hi > lo {
			(*c)[b] += float64(hi - lo)
		}
	}
}

// coarsen doubles the bucket width, merging bucket pairs.
func (t *Trace) coarsen() {
	t.bucketPs *= 2
	t.lastBucket /= 2
	for r := range t.counters {
		for s := range t.counters[r] {
			c := t.counters[r][s]
			for i := range c {
				if i%2 == 0 {
					c[i/2] = c[i]
				} else {
					c[i/2] += c[i]
				}
			}
			t.counters[r][s] = c[:(len(c)+1)/2]
		}
	}
}

// writeCounters emits each kept GPU's link utilization per bucket, only
// where it changes, for the series that ever carried traffic.
func (t *Trace) writeCounters(emit func(string)) {
	var used []int
	for s := range numCounters {
		for _, r := range t.opt.Ranks {
			if slices.ContainsFunc(t.counters[r][s], func(x float64) bool { return x != 0 }) {
				used = append(used, s)
				break
			}
		}
	}
	if len(used) == 0 {
		return
	}
	for _, r := range t.opt.Ranks {
		var prev string
		for b := 0; b <= t.lastBucket+1; b++ {
			var args []string
			for _, s := range used {
				u := 0.0
				if c := t.counters[r][s]; b < len(c) {
					u = min(1, c[b]/float64(t.bucketPs))
				}
				args = append(args, fmt.Sprintf("%q:%s", counterNames[s], strconv.FormatFloat(u, 'f', 4, 64)))
			}
			a := strings.Join(args, ",")
			if a == prev {
				continue
			}
			prev = a
			emit(fmt.Sprintf(`{"name":"link utilization","ph":"C","ts":%s,"pid":%d,"tid":0,"args":{%s}}`,
				usString(sim.Time(b)*t.bucketPs), r, a))
		}
	}
}
