package report

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/moesim/moesim/scenarios"
	"github.com/moesim/moesim/sim"
)

// Issue 18 item 3: the timeline's link-utilization counters reached 2.55
// on ib_out where the JSON said 0.99, because a record's bytes were spread
// over a span that starts before the port is free. Counters now book each
// record on its port as the engine does: every bucket is a busy share in
// 0..1, and each port's busy time over the run is the JSON's port_util
// times the kernel's span, dispatch plus combine.
func TestTraceCountersMatchJSONPortUtil(t *testing.T) {
	s, err := scenarios.LoadPreset("deepep-internode-ep16",
		scenarios.Override{Path: "workload.tokens_per_gpu", Value: "512"}, scenarios.Override{Path: "kernel.num_sms", Value: "8"})
	if err != nil {
		t.Fatal(err)
	}
	ranks, _ := ParseRanks("all", 16)
	tr, err := NewTrace(s, TraceOptions{Ranks: ranks, MaxEvents: 10})
	if err != nil {
		t.Fatal(err)
	}
	res, err := scenarios.Run(s, scenarios.RunOptions{Tracer: tr})
	if err != nil {
		t.Fatal(err)
	}
	span := func(k scenarios.KernelSummary) float64 {
		return float64(sim.FromMicroseconds(slices.Max(k.RankFinishUs)))
	}
	sd, sc := span(res.Dispatch), span(res.Combine)
	for series, util := range map[int]func(scenarios.PortUtil) []float64{
		ctrIBOut: func(p scenarios.PortUtil) []float64 { return p.IBOut }, ctrIBIn: func(p scenarios.PortUtil) []float64 { return p.IBIn },
		ctrNVLOut: func(p scenarios.PortUtil) []float64 { return p.NVLinkOut }, ctrNVLIn: func(p scenarios.PortUtil) []float64 { return p.NVLinkIn },
	} {
		for r := range 16 {
			busy := 0.0
			for _, b := range tr.counters[r][series] {
				if b < 0 || b > float64(tr.bucketPs)*(1+1e-9) {
					t.Fatalf("rank %d %s bucket busy %v ps of %v", r, counterNames[series], b, tr.bucketPs)
				}
				busy += b
			}
			want := util(res.Dispatch.PortUtil)[r]*sd + util(res.Combine.PortUtil)[r]*sc
			if math.Abs(busy-want) > 1e-6*want+1000 {
				t.Errorf("rank %d %s: the trace's counters are busy %.0f ps, the JSON's port_util × span %.0f ps", r, counterNames[series], busy, want)
			}
		}
	}
	var buf bytes.Buffer
	if err := tr.WriteJSON(&buf, res); err != nil {
		t.Fatal(err)
	}
	checkTrace(t, loadTrace(t, buf.Bytes()), map[int]bool{0: true, 1: true, 2: true, 3: true, 4: true, 5: true, 6: true, 7: true,
		8: true, 9: true, 10: true, 11: true, 12: true, 13: true, 14: true, 15: true})
}

// Issue 18 item 10: the default timeline was cut 1794 µs into dispatch
// with no combine event and no warning. Dispatch now keeps at most half
// the events, so a cut trace shows both kernels, and Cut and otherData say
// what was left out.
func TestTraceCutKeepsBothKernelsAndSaysSo(t *testing.T) {
	s, err := scenarios.LoadPreset("deepep-internode-ep16",
		scenarios.Override{Path: "workload.tokens_per_gpu", Value: "256"}, scenarios.Override{Path: "kernel.num_sms", Value: "8"})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTrace(s, TraceOptions{MaxEvents: 300})
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
	ct := loadTrace(t, buf.Bytes())
	kinds := map[string]int{}
	cuts := 0
	for _, e := range ct.TraceEvents {
		switch e.Ph {
		case "X":
			k, _, _ := strings.Cut(e.Cat, " ")
			kinds[k]++
		case "i":
			cuts++
		}
	}
	if kinds["dispatch"] != 150 || kinds["combine"] != 150 {
		t.Fatalf("kept %v events per kernel, want 150 of each (half the bound for dispatch)", kinds)
	}
	if cuts != 2 {
		t.Errorf("%d trace-cut markers, want one per kernel cut", cuts)
	}
	cut := tr.Cut()
	for _, want := range []string{"dispatch: kept the first 150 of", "combine: kept the first 150 of", "--trace-max-events 300"} {
		if !strings.Contains(cut, want) {
			t.Errorf("Cut() = %q, lacks %q", cut, want)
		}
	}
	if ct.OtherData["cut"] != cut || ct.OtherData["dispatch_events_dropped"].(float64) <= 0 {
		t.Errorf("otherData = %v, want the cut and the dropped dispatch events", ct.OtherData)
	}
	// A trace with room for everything keeps everything and says nothing.
	all, _ := NewTrace(s, TraceOptions{MaxEvents: 1 << 30})
	if _, err := scenarios.Run(s, scenarios.RunOptions{Tracer: all}); err != nil {
		t.Fatal(err)
	}
	if all.Cut() != "" {
		t.Errorf("an uncut trace says %q", all.Cut())
	}
}
