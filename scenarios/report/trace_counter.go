package report

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/moesim/moesim/sim"
)

// Link-utilization counters of a trace: bytes per GPU, port class and time
// bucket, from the records that crossed a link. A record's bytes are
// spread evenly over its span (queueing and latency included), so the
// counter is a smoothed estimate; the JSON report's port_util is exact.
//
// Invariants: every kept rank's series hold at most maxCounterBuckets
// buckets of width bucketPs; lastBucket is the last bucket with bytes.

// Counter series, in output order.
const (
	ctrIBOut = iota
	ctrIBIn
	ctrNVLOut
	ctrNVLIn
	numCounters
)

var counterNames = [numCounters]string{"ib_out", "ib_in", "nvlink_out", "nvlink_in"}

// count spreads a record's bytes evenly over the buckets its span covers.
func (t *Trace) count(rank, series int, r sim.Record) {
	if rank < 0 || rank >= t.ranks || !t.keep[rank] || r.Bytes <= 0 {
		return
	}
	end := r.At + max(r.Dur, 0)
	for end/t.bucketPs >= maxCounterBuckets {
		t.coarsen()
	}
	c := &t.counters[rank][series]
	last := int(end / t.bucketPs)
	for len(*c) <= last {
		*c = append(*c, 0)
	}
	t.lastBucket = max(t.lastBucket, last)
	if r.Dur <= 0 {
		(*c)[last] += float64(r.Bytes)
		return
	}
	for b := int(r.At / t.bucketPs); b <= last; b++ {
		lo := max(r.At, sim.Time(b)*t.bucketPs)
		hi := min(end, sim.Time(b+1)*t.bucketPs)
		if hi > lo {
			(*c)[b] += float64(r.Bytes) * float64(hi-lo) / float64(r.Dur)
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
	bucketSec := t.bucketPs.Seconds()
	for _, r := range t.opt.Ranks {
		var prev string
		for b := 0; b <= t.lastBucket+1; b++ {
			var args []string
			for _, s := range used {
				bps := t.nvlBps
				if s == ctrIBOut || s == ctrIBIn {
					bps = t.nicBps
				}
				u := 0.0
				if c := t.counters[r][s]; b < len(c) {
					u = c[b] / (bucketSec * bps)
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
