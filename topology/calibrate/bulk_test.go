package calibrate

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moesim/moesim/topology"
)

// TestBulkFitRecoversTheSyntheticSM: a bulk profile made from an SM with
// known rates and per-record time gives them back.
func TestBulkFitRecoversTheSyntheticSM(t *testing.T) {
	const copyGBps, loadGBps, recNs = 48.0, 200.0, 500.0
	p := &BulkProfile{KitVersion: "test", Created: "now", GPU: BulkGPU{Name: "Synthetic", SMs: 132}}
	for _, rec := range []int{7520, 14400} {
		b := float64(rec)
		chain := recNs*1e-9 + b/(loadGBps*1e9) + b/(copyGBps*1e9)
		p.Rows = append(p.Rows, BulkRow{Kind: "chain", Blocks: 1, Warps: 1, RecordBytes: rec, Iters: 100,
			A: BulkClass{Warps: 1, Loads: 1, Stores: 1, SecondsPerIter: chain, LoadGBps: b / chain / 1e9, StoreGBps: b / chain / 1e9}})
		for _, w := range []int{1, 4, 16} {
			// Warps scale until the SM's rate caps them.
			cp := math.Min(float64(w)*b/chain/1e9, copyGBps)
			ld := math.Min(float64(w)*b/(recNs*1e-9+b/(loadGBps*1e9))/1e9, loadGBps)
			p.Rows = append(p.Rows,
				BulkRow{Kind: "saturate", Blocks: 1, Warps: w, RecordBytes: rec, Iters: 100, A: BulkClass{Warps: w, Loads: 1, Stores: 1, LoadGBps: cp, StoreGBps: cp}},
				BulkRow{Kind: "saturate", Blocks: 1, Warps: w, RecordBytes: rec, Iters: 100, A: BulkClass{Warps: w, Loads: 1, Stores: 0, LoadGBps: ld}})
		}
	}
	f, err := FitBulk(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"copy", f.CopyGBps, copyGBps}, {"load", f.LoadGBps, loadGBps}, {"record", f.RecordNs, recNs}} {
		if math.Abs(c.got-c.want) > 1e-6*c.want {
			t.Errorf("%s: fit %g, want %g", c.name, c.got, c.want)
		}
	}
}

// TestBulkConstantsComeFromTheCommittedRun: the H100 hardware file's bulk
// constants are the fit of the committed bulk run (topology/profiles/
// h100-bulk.json), and every other hardware file that carries them over
// carries the same values, so none can drift from the measurement.
func TestBulkConstantsComeFromTheCommittedRun(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "profiles", "h100-bulk.json"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseBulk(data)
	if err != nil {
		t.Fatal(err)
	}
	f, err := FitBulk(p)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"sm_bulk_copy_GBps": round(f.CopyGBps), "sm_bulk_load_GBps": round(f.LoadGBps), "bulk_record_ns": round(f.RecordNs)}
	for _, name := range topology.PresetNames() {
		h, ok := topology.PresetHardware(name)
		if !ok {
			t.Fatalf("preset %s has no hardware file", name)
		}
		for key, v := range want {
			c := h.Constants[key]
			if c.Value != v {
				t.Errorf("%s: %s = %g, want the H100 run's %g", name, key, c.Value, v)
			}
			if !strings.Contains(c.Source, "h100-bulk.json") {
				t.Errorf("%s: %s's source %q does not name the run", name, key, c.Source)
			}
		}
	}
	if h, _ := topology.PresetHardware("h100"); h.Constants["bulk_record_ns"].Kind != topology.Measured {
		t.Error("h100: bulk_record_ns is not marked measured")
	}
}

// TestParseBulkRefusesBadRuns: unknown fields, no rows and a negative rate
// are errors naming what is wrong.
func TestParseBulkRefusesBadRuns(t *testing.T) {
	for _, c := range []struct{ data, want string }{
		{`{"bulk_warps": [], "extra": 1}`, "unknown field"},
		{`{"bulk_warps": []}`, "bulk_warps is empty"},
		{`{"bulk_warps": [{"kind": "chain", "blocks": 1, "warps": 1, "record_bytes": 64, "a": {"load_GBps": -1}}]}`, "want a finite number >= 0"},
		{`{"bulk_warps": [{"kind": "chain", "blocks": 1, "warps": 0, "record_bytes": 64}]}`, "want positive"},
	} {
		if _, err := ParseBulk([]byte(c.data)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseBulk(%s) = %v, want an error containing %q", c.data, err, c.want)
		}
	}
}
