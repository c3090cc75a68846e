package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReportCommand(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "s.jsonl")
	if code, _, stderr := cli(append(sweepArgs, "--out", file)...); code != 0 {
		t.Fatalf("sweep: exit %d: %s", code, stderr)
	}
	for _, f := range []string{"table", "markdown", "csv", "json", "html"} {
		// Flags may follow the file name.
		code, stdout, stderr := cli("report", file, "--format", f)
		if code != 0 || len(stdout) == 0 {
			t.Fatalf("report --format %s: exit %d: %s", f, code, stderr)
		}
		if f == "json" {
			var v struct {
				Sweep     struct{ Vary []string }
				SeedStats []struct {
					Seeds   []uint64
					Metrics map[string]struct{ N int }
				} `json:"seed_stats"`
				Points []struct {
					Point struct{ Index int }
				}
			}
			if err := json.Unmarshal([]byte(stdout), &v); err != nil {
				t.Fatal(err)
			}
			if len(v.Points) != 6 || len(v.SeedStats) != 2 || v.SeedStats[0].Metrics["dispatch.time_us"].N != 3 {
				t.Fatalf("report json: %d points, %d seed groups", len(v.Points), len(v.SeedStats))
			}
			for i, p := range v.Points {
				if p.Point.Index != i {
					t.Fatalf("report json: point %d at position %d, want point order", p.Point.Index, i)
				}
			}
		}
	}

	data, _ := os.ReadFile(file)
	lines := strings.SplitAfter(string(data), "\n")
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte(lines[0]+`{"point":{"index":1}}`+"\n"+lines[2]), 0o644)
	code, _, stderr := cli("report", bad)
	if code != 2 || !strings.Contains(stderr, bad+":2:") {
		t.Fatalf("bad line: exit %d, %q; want 2 and %s:2:", code, stderr, bad)
	}
	torn := filepath.Join(dir, "torn.jsonl")
	os.WriteFile(torn, []byte(lines[0]+lines[1][:100]), 0o644)
	if code, _, stderr := cli("report", torn); code != 2 || !strings.Contains(stderr, torn+":2:") || !strings.Contains(stderr, "--resume") {
		t.Fatalf("torn line: exit %d, %q", code, stderr)
	}
	if code, _, stderr := cli("report", file, "--format", "pdf"); code != 2 || !strings.Contains(stderr, `"pdf"`) {
		t.Fatalf("bad format: exit %d, %q", code, stderr)
	}
	if code, _, _ := cli("report"); code != 2 {
		t.Fatal("report without a file must exit 2")
	}
	if code, _, _ := cli("report", filepath.Join(dir, "missing.jsonl")); code != 2 {
		t.Fatal("report of a missing file must exit 2")
	}
}

func TestRunRepeat(t *testing.T) {
	code, stdout, stderr := cli("run", "--preset", "deepep-intranode-ep8", "--set", "workload.tokens_per_gpu=128",
		"--repeat", "3", "--format", "json")
	if code != 0 {
		t.Fatalf("run --repeat: exit %d: %s", code, stderr)
	}
	var v struct {
		SeedStats []struct {
			Seeds   []uint64
			Metrics map[string]struct {
				N    int
				Mean float64
				Low  *float64 `json:"ci95_low"`
			}
		} `json:"seed_stats"`
		Points []struct {
			Result struct{ Meta struct{ Seed uint64 } }
		}
	}
	if err := json.Unmarshal([]byte(stdout), &v); err != nil {
		t.Fatal(err)
	}
	if len(v.SeedStats) != 1 || len(v.Points) != 3 {
		t.Fatalf("%d seed groups and %d points, want 1 and 3", len(v.SeedStats), len(v.Points))
	}
	for i, p := range v.Points {
		if p.Result.Meta.Seed != 42+uint64(i) {
			t.Fatalf("point %d has seed %d, want %d (seeds in order from the scenario's)", i, p.Result.Meta.Seed, 42+i)
		}
	}
	m := v.SeedStats[0].Metrics
	for _, name := range []string{"dispatch.time_us", "dispatch.rdma_GBps", "dispatch.nvl_GBps", "combine.time_us",
		"combine.rdma_GBps", "combine.nvl_GBps", "overlap.layer_us", "overlap.hidden_fraction", "overlap.exposed_comm_us"} {
		if m[name].N != 3 || m[name].Low == nil {
			t.Errorf("seed_stats lacks %s over 3 seeds with an interval", name)
		}
	}
	if code, _, stderr := cli("run", "--repeat", "0"); code != 2 || !strings.Contains(stderr, "--repeat = 0") {
		t.Fatalf("--repeat 0: exit %d, %q", code, stderr)
	}
}

func TestRunTraceAndHTML(t *testing.T) {
	dir := t.TempDir()
	trace, page := filepath.Join(dir, "t.json"), filepath.Join(dir, "r.html")
	code, _, stderr := cli("run", "--preset", "deepep-intranode-ep8", "--set", "workload.tokens_per_gpu=128",
		"--trace", trace, "--trace-ranks", "0,5", "--trace-max-events", "50", "--format", "html", "--out", page)
	if code != 0 {
		t.Fatalf("run --trace: exit %d: %s", code, stderr)
	}
	data, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	var tr struct {
		OtherData   map[string]any
		TraceEvents []struct {
			Ph  string
			Pid int
		}
	}
	if err := json.Unmarshal(data, &tr); err != nil {
		t.Fatal(err)
	}
	xs := 0
	for _, e := range tr.TraceEvents {
		if e.Pid != 0 && e.Pid != 5 {
			t.Fatalf("event on pid %d, kept 0 and 5", e.Pid)
		}
		if e.Ph == "X" {
			xs++
		}
	}
	if xs != 50 || tr.OtherData["ranks_kept"] != "0,5" {
		t.Fatalf("%d X events, otherData %v", xs, tr.OtherData)
	}
	if html, _ := os.ReadFile(page); !strings.Contains(string(html), "<svg") {
		t.Fatal("the HTML report has no plot")
	}
	if code, _, stderr := cli("run", "--preset", "deepep-intranode-ep8", "--trace", trace, "--trace-ranks", "8"); code != 2 || !strings.Contains(stderr, "--trace-ranks") {
		t.Fatalf("rank 8 of 8 GPUs: exit %d, %q", code, stderr)
	}
	if code, _, stderr := cli("run", "--trace", trace, "--repeat", "2"); code != 2 || !strings.Contains(stderr, "--trace") {
		t.Fatalf("--trace with --repeat: exit %d, %q", code, stderr)
	}
}
