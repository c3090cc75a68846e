package search

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/moesim/moesim/scenarios"
)

// TestTuneSharesNothingThatMatters: Tune draws the routing and builds the
// layout once for all its points; each point must equal a run of its own.
func TestTuneSharesNothingThatMatters(t *testing.T) {
	s, err := scenarios.Decode(strings.NewReader("cluster: {nodes: 2}\nworkload: {tokens_per_gpu: 256}\n"))
	if err != nil {
		t.Fatal(err)
	}
	pts, err := Tune(s, 8, 12, scenarios.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 3 {
		t.Fatalf("%d points, want 3", len(pts))
	}
	for _, p := range pts {
		alone, err := tunePoint(s, p.NumSMs, scenarios.RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p != alone {
			t.Errorf("%d SMs: tune gives %+v, a run of its own %+v", p.NumSMs, p, alone)
		}
	}
}

// TestTuneTakesTheTracesTokens: with a routing trace and tokens_per_gpu 0,
// a run takes the trace's tokens per GPU. A tune's points share a layout
// and are given no routing, and must take the same count (they once kept
// 0, and timed the compute of no tokens).
func TestTuneTakesTheTracesTokens(t *testing.T) {
	var trace strings.Builder
	rng := rand.New(rand.NewPCG(1, 2))
	for range 16 * 64 {
		for j, e := range rng.Perm(256)[:8] {
			if j > 0 {
				trace.WriteByte(',')
			}
			trace.WriteString(strconv.Itoa(e))
		}
		trace.WriteByte('\n')
	}
	s, err := scenarios.Decode(strings.NewReader("cluster: {nodes: 2}\nmodel: {max_nodes_per_token: 0}\nworkload: {routing: trace, tokens_per_gpu: 0}\nkernel: {num_sms: 12}\n"))
	if err != nil {
		t.Fatal(err)
	}
	opt := scenarios.RunOptions{Trace: []byte(trace.String()), TraceName: "t.csv"}
	res, err := scenarios.Run(s, opt)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Scenario.Workload.TokensPerGPU; got != 64 {
		t.Fatalf("run: tokens_per_gpu = %d, want the trace's 64", got)
	}
	pts, err := Tune(s, 12, 12, opt)
	if err != nil {
		t.Fatal(err)
	}
	if pts[0].LayerUs != res.Overlap.LayerUs || pts[0].ComputeUs != res.Overlap.ComputeUs {
		t.Errorf("tune at 12 SMs: layer %.3f µs, compute %.3f µs; a run: %.3f, %.3f",
			pts[0].LayerUs, pts[0].ComputeUs, res.Overlap.LayerUs, res.Overlap.ComputeUs)
	}
	// A count that is not the trace's is the scenario's error, once, not
	// a point's.
	s.Workload.TokensPerGPU = 100
	_, err = Tune(s, 12, 14, opt)
	var in scenarios.InputError
	if !errors.As(err, &in) || !strings.HasPrefix(err.Error(), "scenario: workload.tokens_per_gpu = 100") {
		t.Errorf("tokens_per_gpu 100 on a 64-token trace: %v, want the scenario's InputError", err)
	}
}

// TestVariationsShareTheLayout: variations of a hardware constant given the
// baseline's layout (Prepare) recommend what they do laying out their own.
func TestVariationsShareTheLayout(t *testing.T) {
	s, err := scenarios.Decode(strings.NewReader("cluster: {nodes: 2}\nworkload: {tokens_per_gpu: 256}\n"))
	if err != nil {
		t.Fatal(err)
	}
	ranges := []Range{{Path: "cluster.warp_copy_GBps", Low: 0.5, High: 2, Relative: true}}
	best := TunePoint{NumSMs: 10}
	own, err := VaryUncertain(s, 4, 24, best, ObjectiveLayer, ranges, scenarios.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	opt, err := Prepare(s, scenarios.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	shared, err := VaryUncertain(s, 4, 24, best, ObjectiveLayer, ranges, opt)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(own, shared) {
		t.Errorf("with the baseline's layout %+v, with their own %+v", shared, own)
	}
}

// TestTuneRunsIsALowerBound: a tune and its reruns call Progress once per
// run, at least TuneRuns times, more only where a rerun's window widened.
func TestTuneRunsIsALowerBound(t *testing.T) {
	s, err := scenarios.Decode(strings.NewReader("cluster: {nodes: 2}\nworkload: {tokens_per_gpu: 256}\n"))
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int64
	opt := scenarios.RunOptions{Progress: func() { calls.Add(1) }}
	pts, err := Tune(s, 4, 20, opt)
	if err != nil {
		t.Fatal(err)
	}
	if int(calls.Load()) != len(pts) {
		t.Fatalf("%d progress calls for %d points", calls.Load(), len(pts))
	}
	best, err := Recommend(pts, ObjectiveLayer)
	if err != nil {
		t.Fatal(err)
	}
	ranges := []Range{{Path: "cluster.warp_copy_GBps", Low: 0.5, High: 2, Relative: true}}
	if _, err := VaryUncertain(s, 4, 20, best, ObjectiveLayer, ranges, opt); err != nil {
		t.Fatal(err)
	}
	if got, least := int(calls.Load()), TuneRuns(4, 20, len(ranges)); got < least || least != 9+2*5 {
		t.Errorf("%d runs, TuneRuns %d (want 19, and at most the runs)", got, least)
	}
}
