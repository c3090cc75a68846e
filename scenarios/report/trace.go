package report

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/moesim/moesim/scenarios"
	"github.com/moesim/moesim/sim"
)

// Trace is a sim.Tracer that keeps a bounded slice of a kernel's event
// trace and writes it in Chrome's trace-event format, which Perfetto
// (ui.perfetto.dev) and chrome://tracing open. docs/trace.md documents the
// layout: a process per GPU (pid = rank), a thread per (channel, warp
// role) (tid = 10·channel + role number), a complete event ("X") per
// record, and link-utilization counters ("C") per GPU in time buckets.
//
// Bounds: only the ranks in TraceOptions.Ranks are kept, at most
// MaxEvents complete events (the first ones, in simulation order), and at
// most maxCounterBuckets counter buckets per GPU (the bucket width doubles
// when a run outgrows them). What was kept is written in "otherData".
type Trace struct {
	opt        TraceOptions
	gpn        int
	ranks      int
	keep       []bool
	nicBps     float64
	nvlBps     float64
	events     []traceEvent
	seen       int // records of kept ranks
	records    int // records of all ranks
	roles      map[string]int
	bucketPs   sim.Time
	counters   [][numCounters][]float64 // [rank][series][bucket] busy ps
	free       [][numCounters]sim.Time  // [rank][series] when the port frees up
	msg        sim.Time                 // NIC time per message
	handshake  sim.Time                 // a chunk's fence before its RDMA write
	lastBucket int
	kernels    []kernelEvents // events kept and dropped per kernel
}

// kernelEvents counts one kernel's events: those kept and those dropped
// once its share of MaxEvents was full.
type kernelEvents struct {
	name          string
	kept, dropped int
	keptUntil     sim.Time // start of its last kept event
}

// TraceOptions bound a trace.
type TraceOptions struct {
	// Ranks are the GPUs kept; nil keeps ranks 0..DefaultTraceRanks-1.
	Ranks []int
	// MaxEvents bounds the complete events kept; 0 means
	// DefaultTraceMaxEvents.
	MaxEvents int
	// BucketUs is the counters' initial bucket width; 0 means 1 µs.
	BucketUs float64
}

// Trace defaults and limits.
const (
	DefaultTraceRanks     = 8
	DefaultTraceMaxEvents = 200000
	maxCounterBuckets     = 4096
)

// Warp roles and their thread numbers within a channel; roles not listed
// get 5..8 in order of appearance, then 9.
var traceRoles = map[string]int{
	"rdma-send": 1, "rdma-coord": 2, "forward": 3, "nvl-recv": 4,
	"dispatch rdma-send": 1, "dispatch rdma-coord": 2, "dispatch forward": 3, "dispatch nvl-recv": 4,
	"combine nvl-send": 11, "combine forward": 12, "combine rdma-recv": 13, "combine nvl-recv": 14,
}

type traceEvent struct {
	at, dur            sim.Time
	name, role, link   string
	gpu, ch, peer, tok int
	bytes              int64
	tid                int
}

// NewTrace returns a collector for a run of scenario s.
func NewTrace(s scenarios.Scenario, opt TraceOptions) (*Trace, error) {
	hw, err := s.Topology()
	if err != nil {
		return nil, err
	}
	t := &Trace{opt: opt, gpn: hw.GPUsPerNode, ranks: hw.GPUs(), roles: map[string]int{}}
	if t.opt.MaxEvents == 0 {
		t.opt.MaxEvents = DefaultTraceMaxEvents
	}
	if t.opt.MaxEvents < 0 {
		return nil, fmt.Errorf("report: --trace-max-events = %d, want 0 (default %d) or more", opt.MaxEvents, DefaultTraceMaxEvents)
	}
	if t.opt.BucketUs == 0 {
		t.opt.BucketUs = 1
	}
	if !(t.opt.BucketUs >= 0.001 && t.opt.BucketUs <= 1e6) {
		return nil, fmt.Errorf("report: trace bucket = %g µs, want 0.001..1e6", t.opt.BucketUs)
	}
	t.bucketPs = sim.FromMicroseconds(t.opt.BucketUs)
	if t.opt.Ranks == nil {
		for r := range min(DefaultTraceRanks, t.ranks) {
			t.opt.Ranks = append(t.opt.Ranks, r)
		}
	}
	t.keep = make([]bool, t.ranks)
	for _, r := range t.opt.Ranks {
		if r < 0 || r >= t.ranks {
			return nil, fmt.Errorf("report: --trace-ranks has rank %d, want 0..%d (the scenario has %d GPUs)", r, t.ranks-1, t.ranks)
		}
		t.keep[r] = true
	}
	t.opt.Ranks = slices.Compact(slices.Sorted(slices.Values(t.opt.Ranks)))
	t.nicBps = hw.GPU.NICBytesPerSec * hw.NICEfficiency
	t.nvlBps = hw.GPU.NVLinkBytesPerSec * hw.NVLinkEfficiency
	t.counters = make([][numCounters][]float64, t.ranks)
	t.free = make([][numCounters]sim.Time, t.ranks)
	t.msg = sim.FromSeconds(1 / hw.NICMessageRate)
	t.handshake = hw.GPU.ChunkHandshake
	return t, nil
}

// ParseRanks reads a rank list such as "0-7" or "0,3,8-11" for a run of
// n GPUs; "all" is every rank.
func ParseRanks(spec string, n int) ([]int, error) {
	if strings.TrimSpace(spec) == "all" {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out, nil
	}
	var out []int
	for _, part := range strings.Split(spec, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err1 := strconv.Atoi(lo)
		b, err2 := a, error(nil)
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || a < 0 || b < a {
			return nil, fmt.Errorf("report: --trace-ranks %q: %q is not a rank or a range lo-hi; want for example 0-7 or 0,3,8-11 or all", spec, part)
		}
		if b >= n {
			return nil, fmt.Errorf("report: --trace-ranks %q: rank %d, the scenario has ranks 0..%d", spec, b, n-1)
		}
		for r := a; r <= b; r++ {
			out = append(out, r)
		}
	}
	return slices.Compact(slices.Sorted(slices.Values(out))), nil
}

// Trace records one span.
func (t *Trace) Trace(r sim.Record) {
	t.records++
	if r.GPU >= 0 && r.GPU < t.ranks && t.keep[r.GPU] {
		t.seen++
		k := t.kernel(r.Role)
		// Dispatch keeps at most half the budget, so a cut trace still
		// shows combine; combine (or a lone kernel) takes what is left.
		room := len(t.events) < t.opt.MaxEvents
		if k.name == "dispatch" {
			room = room && k.kept < (t.opt.MaxEvents+1)/2
		}
		if room {
			k.kept++
			k.keptUntil = r.At
			t.events = append(t.events, traceEvent{at: r.At, dur: r.Dur, name: r.Event, role: r.Role, link: r.Link,
				gpu: r.GPU, ch: r.Channel, peer: r.Peer, tok: r.Tokens, bytes: r.Bytes, tid: t.tid(r.Channel, r.Role)})
		} else {
			k.dropped++
		}
	}
	switch r.Link {
	case "ib":
		t.count(r.GPU, ctrIBOut, r)
		t.count(r.Peer*t.gpn+r.GPU%t.gpn, ctrIBIn, r)
	case "nvlink":
		t.count(r.GPU, ctrNVLOut, r)
		t.count(r.Peer, ctrNVLIn, r)
	}
}

// kernel is the event counts of the kernel a role belongs to ("dispatch
// forward": dispatch), in order of first appearance.
func (t *Trace) kernel(role string) *kernelEvents {
	name, _, ok := strings.Cut(role, " ")
	if !ok || (name != "dispatch" && name != "combine") {
		name = "kernel"
	}
	for i := range t.kernels {
		if t.kernels[i].name == name {
			return &t.kernels[i]
		}
	}
	t.kernels = append(t.kernels, kernelEvents{name: name})
	return &t.kernels[len(t.kernels)-1]
}

// Cut says what the trace left out, "" when it kept every event of its
// ranks: per kernel, the events dropped and the time its kept ones reach.
func (t *Trace) Cut() string {
	var parts []string
	for _, k := range t.kernels {
		if k.dropped > 0 {
			parts = append(parts, fmt.Sprintf("%s: kept the first %d of %d events (to %s µs)", k.name, k.kept, k.kept+k.dropped, usString(k.keptUntil)))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return strings.Join(parts, "; ") + fmt.Sprintf("; --trace-max-events %d bounds the trace (half of it for dispatch): raise it or keep fewer --trace-ranks for the whole run", t.opt.MaxEvents)
}

func (t *Trace) tid(ch int, role string) int {
	n, ok := traceRoles[role]
	if !ok {
		if n, ok = t.roles[role]; !ok {
			n = min(5+len(t.roles), 9)
			if strings.HasPrefix(role, "combine ") {
				n = min(15+len(t.roles), 19)
			}
			t.roles[role] = n
		}
	}
	if ch < 0 {
		return 100000 + n
	}
	return 20*ch + n
}

// WriteJSON writes the trace; res gives the run's identity for otherData.
func (t *Trace) WriteJSON(w io.Writer, res *scenarios.Result) error {
	bw := bufio.NewWriter(w)
	dropped := t.seen - len(t.events)
	other := []kv{
		{"generator", "moesim " + res.Meta.Version}, {"run_id", res.Meta.RunID}, {"scenario", res.Meta.Name},
		{"seed", res.Meta.Seed}, {"kernel", "dispatch, then combine"}, {"time_unit", "µs"},
		{"ranks_total", t.ranks}, {"ranks_kept", rankList(t.opt.Ranks)},
		{"max_events", t.opt.MaxEvents}, {"records_total", t.records}, {"records_kept_ranks", t.seen},
		{"events_kept", len(t.events)}, {"events_dropped", dropped},
	}
	if dropped > 0 {
		other = append(other, kv{"kept_until_us", rawJSON(usString(t.events[len(t.events)-1].at))})
		other = append(other, kv{"cut", t.Cut()})
	}
	for _, k := range t.kernels {
		other = append(other, kv{k.name + "_events_kept", k.kept}, kv{k.name + "_events_dropped", k.dropped})
	}
	other = append(other, kv{"counter", "link utilization"}, kv{"counter_bucket_us", rawJSON(usString(t.bucketPs))})
	fmt.Fprintf(bw, "{\"displayTimeUnit\":\"ns\",\"otherData\":%s,\"traceEvents\":[\n", object(other))
	first := true
	emit := func(s string) {
		if !first {
			bw.WriteString(",\n")
		}
		first = false
		bw.WriteString(s)
	}
	for _, r := range t.opt.Ranks {
		emit(fmt.Sprintf(`{"name":"process_name","ph":"M","pid":%d,"tid":0,"args":{"name":"GPU %d (node %d, local %d)"}}`, r, r, r/t.gpn, r%t.gpn))
		emit(fmt.Sprintf(`{"name":"process_sort_index","ph":"M","pid":%d,"tid":0,"args":{"sort_index":%d}}`, r, r))
	}
	type thread struct{ pid, tid, ch int }
	names := map[thread]string{}
	for _, e := range t.events {
		th := thread{e.gpu, e.tid, e.ch}
		if _, ok := names[th]; !ok {
			role := e.role
			if n := e.tid % 20; n == 9 || n == 19 {
				role = "other"
			}
			names[th] = role
		}
	}
	threads := make([]thread, 0, len(names))
	for th := range names {
		threads = append(threads, th)
	}
	slices.SortFunc(threads, func(a, b thread) int {
		if a.pid != b.pid {
			return a.pid - b.pid
		}
		return a.tid - b.tid
	})
	for _, th := range threads {
		name := names[th]
		if th.ch >= 0 {
			name = fmt.Sprintf("ch%d %s", th.ch, name)
		}
		n, _ := json.Marshal(name)
		emit(fmt.Sprintf(`{"name":"thread_name","ph":"M","pid":%d,"tid":%d,"args":{"name":%s}}`, th.pid, th.tid, n))
		emit(fmt.Sprintf(`{"name":"thread_sort_index","ph":"M","pid":%d,"tid":%d,"args":{"sort_index":%d}}`, th.pid, th.tid, th.tid))
	}
	for _, e := range t.events {
		name, _ := json.Marshal(e.name)
		cat, _ := json.Marshal(e.role)
		link, _ := json.Marshal(e.link)
		emit(fmt.Sprintf(`{"name":%s,"cat":%s,"ph":"X","ts":%s,"dur":%s,"pid":%d,"tid":%d,"args":{"bytes":%d,"tokens":%d,"peer":%d,"link":%s,"channel":%d}}`,
			name, cat, usString(e.at), usString(e.dur), e.gpu, e.tid, e.bytes, e.tok, e.peer, link, e.ch))
	}
	for _, k := range t.kernels {
		if k.dropped > 0 {
			msg, _ := json.Marshal(fmt.Sprintf("trace cut: %d later %s events not kept (--trace-max-events)", k.dropped, k.name))
			emit(fmt.Sprintf(`{"name":%s,"ph":"i","s":"g","ts":%s,"pid":%d,"tid":0}`, msg, usString(k.keptUntil), t.opt.Ranks[0]))
		}
	}
	t.writeCounters(emit)
	bw.WriteString("\n]}\n")
	return bw.Flush()
}

// usString writes picoseconds as exact decimal microseconds.
func usString(t sim.Time) string {
	neg := t < 0
	if neg {
		t = -t
	}
	s := strconv.FormatInt(int64(t/sim.Microsecond), 10)
	if f := int64(t % sim.Microsecond); f != 0 {
		s += strings.TrimRight(fmt.Sprintf(".%06d", f), "0")
	}
	if neg {
		s = "-" + s
	}
	return s
}

// rankList writes sorted ranks compactly: 0-7,12.
func rankList(ranks []int) string {
	var parts []string
	for i := 0; i < len(ranks); {
		j := i
		for j+1 < len(ranks) && ranks[j+1] == ranks[j]+1 {
			j++
		}
		if j == i {
			parts = append(parts, strconv.Itoa(ranks[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", ranks[i], ranks[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

type kv struct {
	k string
	v any
}

type rawJSON string

func object(kvs []kv) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, p := range kvs {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(p.k)
		b.Write(k)
		b.WriteByte(':')
		if raw, ok := p.v.(rawJSON); ok {
			b.WriteString(string(raw))
			continue
		}
		v, _ := json.Marshal(p.v)
		b.Write(v)
	}
	b.WriteByte('}')
	return b.String()
}
