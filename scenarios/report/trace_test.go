package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/moesim/moesim/scenarios"
	"github.com/moesim/moesim/sim"
)

// chromeTrace is the part of the trace-event format the tests read.
type chromeTrace struct {
	DisplayTimeUnit string         `json:"displayTimeUnit"`
	OtherData       map[string]any `json:"otherData"`
	TraceEvents     []struct {
		Name string          `json:"name"`
		Cat  string          `json:"cat"`
		Ph   string          `json:"ph"`
		S    string          `json:"s"` // an instant event's scope
		Ts   *float64        `json:"ts"`
		Dur  *float64        `json:"dur"`
		Pid  *int            `json:"pid"`
		Tid  *int            `json:"tid"`
		Args json.RawMessage `json:"args"`
	} `json:"traceEvents"`
}

func loadTrace(t *testing.T, data []byte) chromeTrace {
	t.Helper()
	var ct chromeTrace
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ct); err != nil {
		t.Fatalf("trace is not valid trace-event JSON: %v", err)
	}
	return ct
}

// checkTrace checks the layout every trace must have and returns the
// number of complete events.
func checkTrace(t *testing.T, ct chromeTrace, keep map[int]bool) int {
	t.Helper()
	named := map[[2]int]bool{} // (pid, tid) with a thread_name; tid -1 for process_name
	xs := 0
	for i, e := range ct.TraceEvents {
		if e.Pid == nil || !keep[*e.Pid] {
			t.Fatalf("event %d (%s) has pid %v, outside the kept ranks", i, e.Name, e.Pid)
		}
		switch e.Ph {
		case "M":
			switch e.Name {
			case "process_name":
				named[[2]int{*e.Pid, -1}] = true
			case "thread_name":
				named[[2]int{*e.Pid, *e.Tid}] = true
			}
		case "X":
			xs++
			if e.Ts == nil || e.Dur == nil || *e.Dur < 0 || *e.Ts < 0 {
				t.Fatalf("X event %d (%s) has ts %v dur %v, want both >= 0", i, e.Name, e.Ts, e.Dur)
			}
			if !named[[2]int{*e.Pid, *e.Tid}] || !named[[2]int{*e.Pid, -1}] {
				t.Fatalf("X event %d on pid %d tid %d before its process/thread name", i, *e.Pid, *e.Tid)
			}
			var args struct {
				Bytes, Tokens, Peer, Channel *int
				Link                         *string
			}
			if err := json.Unmarshal(e.Args, &args); err != nil || args.Bytes == nil || args.Tokens == nil || args.Peer == nil || args.Link == nil {
				t.Fatalf("X event %d args %s lack bytes/tokens/peer/link", i, e.Args)
			}
		case "C":
			var args map[string]float64
			if err := json.Unmarshal(e.Args, &args); err != nil || len(args) == 0 {
				t.Fatalf("counter %d args %s", i, e.Args)
			}
			for k, v := range args {
				if v < 0 || v > 1 {
					t.Fatalf("counter %d %s = %v, want a busy share in 0..1", i, k, v)
				}
			}
		case "i":
			if !strings.HasPrefix(e.Name, "trace cut: ") || e.S != "g" {
				t.Fatalf("instant event %d: %q scope %q, want a global trace-cut marker", i, e.Name, e.S)
			}
		default:
			t.Fatalf("event %d has phase %q", i, e.Ph)
		}
	}
	for r := range keep {
		if !named[[2]int{r, -1}] {
			t.Errorf("rank %d has no process_name", r)
		}
	}
	return xs
}

func fixtureRecords() []sim.Record {
	var recs []sim.Record
	at := sim.Time(0)
	for i := range 40 {
		gpu := []int{0, 1, 8, 9}[i%4]
		ch := (i / 4) % 2
		at += 700 * sim.Nanosecond
		recs = append(recs,
			sim.Record{At: at, Dur: 2*sim.Microsecond + sim.Time(i)*333, Event: "rdma_copy", Role: "rdma-send", GPU: gpu, Channel: ch, Peer: -1, Link: "sm", Bytes: 52304, Tokens: 7},
			sim.Record{At: at + 50*sim.Nanosecond, Dur: 3 * sim.Microsecond, Event: "rdma_put", Role: "rdma-coord", GPU: gpu, Channel: ch, Peer: 1 - gpu/8, Link: "ib", Bytes: 44832, Tokens: 6},
			sim.Record{At: at + 100*sim.Nanosecond, Dur: 1500 * sim.Nanosecond, Event: "nvl_forward", Role: "forward", GPU: gpu, Channel: ch, Peer: gpu ^ 1, Link: "nvlink", Bytes: 44832, Tokens: 6},
			sim.Record{At: at + 200*sim.Nanosecond, Dur: 0, Event: "nvl_recv", Role: "nvl-recv", GPU: gpu ^ 1, Channel: ch, Peer: gpu, Link: "sm", Bytes: 44832, Tokens: 6},
			sim.Record{At: at, Dur: 1000, Event: "mystery", Role: "new-role", GPU: gpu, Channel: ch, Peer: -1, Link: "", Bytes: 0, Tokens: 0},
		)
	}
	return recs
}

func TestGoldenTrace(t *testing.T) {
	res := fixtureResult(42, 20)
	tr, err := NewTrace(res.Scenario, TraceOptions{Ranks: []int{0, 1, 8}, MaxEvents: 60, BucketUs: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range fixtureRecords() {
		tr.Trace(r)
	}
	var buf bytes.Buffer
	if err := tr.WriteJSON(&buf, res); err != nil {
		t.Fatal(err)
	}
	golden(t, "trace.golden.json", buf.Bytes())
	ct := loadTrace(t, buf.Bytes())
	if xs := checkTrace(t, ct, map[int]bool{0: true, 1: true, 8: true}); xs != 60 {
		t.Fatalf("%d X events, want the bound 60", xs)
	}
	od := ct.OtherData
	if od["ranks_kept"] != "0-1,8" || od["events_kept"] != 60.0 || od["max_events"] != 60.0 ||
		od["events_dropped"].(float64) != od["records_kept_ranks"].(float64)-60 || od["records_total"] != 200.0 {
		t.Fatalf("otherData = %v", od)
	}
	page := buf.String()
	for _, want := range []string{`"args":{"name":"ch1 forward"}`, `"args":{"name":"ch0 new-role"}`, `"ph":"C"`, `"ib_in"`} {
		if !strings.Contains(page, want) {
			t.Errorf("trace lacks %s", want)
		}
	}
}

// A real dispatch of two nodes, traced with every rank and a small bound.
func TestTraceOfRun(t *testing.T) {
	s, err := scenarios.LoadPreset("deepep-internode-ep16",
		scenarios.Override{Path: "workload.tokens_per_gpu", Value: "128"}, scenarios.Override{Path: "kernel.num_sms", Value: "8"})
	if err != nil {
		t.Fatal(err)
	}
	ranks, err := ParseRanks("all", 16)
	if err != nil {
		t.Fatal(err)
	}
	const bound = 500
	tr, err := NewTrace(s, TraceOptions{Ranks: ranks, MaxEvents: bound})
	if err != nil {
		t.Fatal(err)
	}
	res, err := scenarios.Run(s, scenarios.RunOptions{Tracer: tr})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := tr.WriteJSON(&buf, res); err != nil {
		t.Fatal(err)
	}
	keep := map[int]bool{}
	for _, r := range ranks {
		keep[r] = true
	}
	ct := loadTrace(t, buf.Bytes())
	if xs := checkTrace(t, ct, keep); xs != bound {
		t.Fatalf("%d X events, want the bound %d (the run has more)", xs, bound)
	}
	if d := ct.OtherData["events_dropped"].(float64); d <= 0 {
		t.Fatalf("events_dropped = %v, want > 0", d)
	}
	if !strings.Contains(buf.String(), `"ib_out"`) {
		t.Error("a two-node dispatch has IB counters")
	}

	// The default keeps ranks 0..7 only.
	def, err := NewTrace(s, TraceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := scenarios.Run(s, scenarios.RunOptions{Tracer: def}); err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	if err := def.WriteJSON(&buf, res); err != nil {
		t.Fatal(err)
	}
	ct = loadTrace(t, buf.Bytes())
	checkTrace(t, ct, map[int]bool{0: true, 1: true, 2: true, 3: true, 4: true, 5: true, 6: true, 7: true})
	if ct.OtherData["ranks_kept"] != "0-7" || ct.OtherData["events_dropped"] != 0.0 {
		t.Fatalf("default otherData = %v", ct.OtherData)
	}
}

func TestParseRanks(t *testing.T) {
	got, err := ParseRanks("8-9, 0,3,3", 16)
	if err != nil || rankList(got) != "0,3,8-9" {
		t.Fatalf("ParseRanks = %v, %v", got, err)
	}
	for _, bad := range []string{"", "x", "3-1", "-2", "0-16", "1,,2"} {
		if _, err := ParseRanks(bad, 16); err == nil || !strings.Contains(err.Error(), "--trace-ranks") {
			t.Errorf("ParseRanks(%q) = %v, want an error naming --trace-ranks", bad, err)
		}
	}
}

func TestUsString(t *testing.T) {
	for _, c := range []struct {
		t    sim.Time
		want string
	}{{0, "0"}, {1, "0.000001"}, {1500 * sim.Nanosecond, "1.5"}, {12 * sim.Microsecond, "12"}, {123456789, "123.456789"}} {
		if got := usString(c.t); got != c.want {
			t.Errorf("usString(%d) = %s, want %s", c.t, got, c.want)
		}
	}
}

// Counters conserve busy time (each record's bytes at the port's rate) and
// stay within maxCounterBuckets as a long run doubles the bucket width.
func TestTraceCountersCoarsen(t *testing.T) {
	res := fixtureResult(1, 8)
	tr, err := NewTrace(res.Scenario, TraceOptions{Ranks: []int{0, 1}})
	if err != nil {
		t.Fatal(err)
	}
	var total float64
	for i := range 100 {
		at := sim.Time(i) * 100 * sim.Microsecond // to 9.9 ms: 1 µs buckets would be 9900
		tr.Trace(sim.Record{At: at, Dur: 3*sim.Microsecond + sim.Time(i)*7, Event: "nvl_forward", Role: "forward",
			GPU: 0, Channel: 0, Peer: 1, Link: "nvlink", Bytes: 1000 + int64(i)})
		total += float64(sim.TransferTime(1000+int64(i), tr.nvlBps))
	}
	if tr.bucketPs != 4*sim.Microsecond {
		t.Fatalf("bucket = %v, want 4µs (1µs doubled until under %d buckets)", tr.bucketPs, maxCounterBuckets)
	}
	for _, series := range []int{ctrNVLOut, ctrNVLIn} {
		rank := map[int]int{ctrNVLOut: 0, ctrNVLIn: 1}[series]
		c := tr.counters[rank][series]
		if len(c) > maxCounterBuckets {
			t.Fatalf("%d buckets", len(c))
		}
		sum := 0.0
		for _, b := range c {
			sum += b
		}
		if !approx(sum, total) {
			t.Fatalf("%s on rank %d holds %v ps busy, want %v", counterNames[series], rank, sum, total)
		}
	}
}
