package report

import (
	"bytes"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/moesim/moesim/dispatch"
	"github.com/moesim/moesim/scenarios"
	"github.com/moesim/moesim/scenarios/schedule"
	"github.com/moesim/moesim/scenarios/search"
)

// Golden tests render hand-built results, so they fail only when rendering
// changes, not when the model's numbers move. Regenerate with
//
//	go test ./scenarios/report -update

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := range min(len(gl), len(wl)) {
			if gl[i] != wl[i] {
				t.Fatalf("%s: line %d differs (go test -update rewrites it if the change is intended)\n got: %.300s\nwant: %.300s", name, i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("%s: %d lines, golden has %d (go test -update rewrites it if the change is intended)", name, len(gl), len(wl))
	}
}

// fixtureScenario is a two-node EP16 scenario written out in full, so no
// preset or default can change it.
func fixtureScenario(seed uint64, numSMs int, visit float64) scenarios.Scenario {
	return scenarios.Scenario{
		Name: "fixture-ep16", Description: "hand-built result for the report tests", Seed: seed,
		Cluster: scenarios.Cluster{Preset: "h800", Nodes: 2, GPUsPerNode: 8, SMs: 132, NVLinkGBps: 160, NICGBps: 50,
			SMCopyGBps: 30, NVLinkEfficiency: 0.87, NICEfficiency: 0.91, NVLinkLatencyUs: 3.33, IBLatencyUs: 2.8,
			RailOversubscription: 1},
		Model: scenarios.Model{Hidden: 7168, Experts: 256, SharedExperts: 1, TopK: 8, MaxNodesPerToken: 4,
			ExpertIntermediate: 2048, Heads: 128, HeadDim: 128, RopeHeadDim: 64, KVLoraRank: 512, QLoraRank: 1536,
			SeqLen: 4096, Layers: 61, DispatchType: "fp8", CombineType: "bf16"},
		Workload: scenarios.Workload{TokensPerGPU: 256, Routing: "balanced", GPUsPerNodeVisit: visit},
		Kernel: scenarios.Kernel{Mode: dispatch.Normal, NumSMs: numSMs,
			Dispatch: scenarios.Chunks{NVLChunk: 6, NVLBuffer: 256, RDMAChunk: 6, RDMABuffer: 128},
			Combine:  scenarios.Chunks{NVLChunk: 4, NVLBuffer: 288, RDMAChunk: 12, RDMABuffer: 128}},
		Compute:  scenarios.Compute{Efficiency: 0.6, TileM: 128, TileN: 256, Precision: "fp8"},
		Schedule: scenarios.Schedule{Kind: schedule.ScheduleTwoMicroBatch},
	}
}

// fixtureResult makes up plausible figures from the inputs with plain
// arithmetic (including values with long binary expansions, to test that
// numbers survive a round trip).
func fixtureResult(seed uint64, numSMs int) *scenarios.Result {
	visit := 2.5 + 0.1*float64(seed%5)
	s := fixtureScenario(seed, numSMs, visit)
	jitter := float64(seed%7) / 3
	kernel := func(base float64, bottleneck string) scenarios.KernelSummary {
		t := base + 240/float64(numSMs)*visit + jitter
		k := scenarios.KernelSummary{Mode: "normal", TimeUs: t, NotifyUs: 24.99,
			RDMAGBps: 1500 / t, NVLGBps: 1500 * visit / t, Bottleneck: bottleneck,
			IBBytes: 36_000_000 + int64(seed), NVLinkBytes: 90_000_000 + int64(numSMs),
			IBUtil: scenarios.UtilSummary{Mean: 0.41, Max: 0.5 + 1/3.0/float64(numSMs)}, NVLinkUtil: scenarios.UtilSummary{Mean: 0.55, Max: 0.7},
			SMUtil: scenarios.UtilSummary{Mean: 0.8, Max: 0.9}, RecordBytes: 7472, Events: 12345, NumSMs: numSMs,
			Chunks: s.Kernel.Dispatch}
		for r := range 16 {
			k.RankFinishUs = append(k.RankFinishUs, t-10+float64((r*7+int(seed))%11)/1.3)
			k.PortUtil.IBOut = append(k.PortUtil.IBOut, 0.30+0.01*float64(r))
			k.PortUtil.IBIn = append(k.PortUtil.IBIn, 0.32+0.005*float64((r*3)%16))
			k.PortUtil.NVLinkOut = append(k.PortUtil.NVLinkOut, 0.5+0.02*float64(r%8)+1/float64(numSMs))
			k.PortUtil.NVLinkIn = append(k.PortUtil.NVLinkIn, 0.52+0.01*float64((r*5)%8))
		}
		return k
	}
	d, c := kernel(60, "IB"), kernel(120, "NVLink")
	comm := d.TimeUs + c.TimeUs
	layer := 900 + comm*0.4
	return &scenarios.Result{
		Meta: scenarios.Meta{RunID: fmt.Sprintf("00000000-0000-5000-8000-%012d", int(seed)*100+numSMs), Version: "0.1.0",
			Name: s.Name, Seed: seed},
		Routing: scenarios.RoutingSummary{Tokens: 4096, TargetNodesPerToken: 2, TargetGPUsPerToken: 2 * visit,
			GPUsPerNodeVisit: visit, MaxRecvRows: 700 + numSMs, MeanRecvRows: 640.25},
		Dispatch: d, Combine: c,
		Compute: scenarios.ComputeSummary{CommSMs: numSMs, ComputeSMs: 132 - numSMs, AttnFwdUs: 300.5, MLPFwdUs: 420.25,
			Slowdown: 132 / float64(132-numSMs)},
		Overlap: scenarios.OverlapSummary{Schedule: "two-microbatch", LayerUs: layer, ComputeUs: 900, CommUs: comm,
			HiddenCommUs: comm * 0.6, ExposedCommUs: comm * 0.4, HiddenFraction: 0.6,
			Ops: []scenarios.OpSummary{{Name: "attn", Stream: "compute", StartUs: 0, EndUs: 300.5},
				{Name: "dispatch", Stream: "comm", StartUs: 0, EndUs: d.TimeUs}}},
		Scenario: s,
	}
}

// fixtureSet is a sweep over kernel.num_sms and the seed.
func fixtureSet() *Set {
	var rows []Row
	i := 0
	for _, sms := range []int{8, 16, 24} {
		for _, seed := range []uint64{1, 2, 3} {
			rows = append(rows, Row{
				Point: search.Point{Index: i, Values: []scenarios.Override{
					{Path: "kernel.num_sms", Value: strconv.Itoa(sms)}, {Path: "seed", Value: strconv.FormatUint(seed, 10)}}},
				Result: fixtureResult(seed, sms),
			})
			i++
		}
	}
	// Completion order is not point order: NewSet sorts.
	rows[0], rows[5] = rows[5], rows[0]
	return NewSet([]string{"kernel.num_sms", "seed"}, rows)
}

func approx(a, b float64) bool { return math.Abs(a-b) <= 1e-12*math.Max(1, math.Abs(b)) }
