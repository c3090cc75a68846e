package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// flatNumbers reads a JSON file's numbers by dotted path (arrays left out).
func flatNumbers(t *testing.T, path string) map[string]float64 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	var walk func(string, any)
	walk = func(p string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				walk(strings.TrimPrefix(p+"."+k, "."), c)
			}
		case float64:
			out[p] = x
		}
	}
	walk("", v)
	return out
}

// `moesim compare` of the H800 and H200 runs of deepep-internode-ep32
// names the hardware change and gives every figure's ratio, as read from
// the two JSON files.
func TestCompareH800H200(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "h800.json"), filepath.Join(dir, "h200.json")
	done := make(chan string, 2)
	for _, c := range []struct{ file, preset string }{{a, "h800"}, {b, "h200"}} {
		go func() {
			code, _, stderr := cli("run", "--preset", "deepep-internode-ep32", "--set", "cluster.preset="+c.preset, "--format", "json", "--out", c.file)
			if code != 0 {
				done <- c.preset + ": " + stderr
				return
			}
			done <- ""
		}()
	}
	for range 2 {
		if msg := <-done; msg != "" {
			t.Fatal(msg)
		}
	}
	code, out, stderr := cli("compare", a, b, "--format", "json")
	if code != 0 {
		t.Fatalf("compare: exit %d: %s", code, stderr)
	}
	var cmp struct {
		Scenario []struct {
			Figure string
			Values []any
		} `json:"scenario_differences"`
		Figures []struct {
			Figure string
			Values []any
			Ratio  []*float64
		}
	}
	if err := json.Unmarshal([]byte(out), &cmp); err != nil {
		t.Fatal(err)
	}
	diffs := map[string][]any{}
	for _, s := range cmp.Scenario {
		diffs[s.Figure] = s.Values
	}
	if v := diffs["cluster.preset"]; len(v) != 2 || v[0] != "h800" || v[1] != "h200" {
		t.Fatalf("scenario differences %v, want cluster.preset h800 -> h200", diffs)
	}
	if _, ok := diffs["cluster.nvlink_GBps"]; !ok {
		t.Errorf("scenario differences %v lack the NVLink bandwidth the hardware changes", diffs)
	}
	if _, ok := diffs["kernel.num_sms"]; ok {
		t.Errorf("kernel.num_sms is listed as a difference; both runs use 24")
	}
	fa, fb := flatNumbers(t, a), flatNumbers(t, b)
	checked := 0
	for _, f := range cmp.Figures {
		x, y := fa[f.Figure], fb[f.Figure]
		if _, ok := fa[f.Figure]; !ok || x == 0 {
			continue
		}
		if f.Ratio[1] == nil || math.Abs(*f.Ratio[1]-y/x) > 1e-12*math.Abs(y/x) {
			t.Errorf("%s: ratio %v, want %v / %v", f.Figure, f.Ratio[1], y, x)
		}
		checked++
	}
	for _, must := range []string{"dispatch.time_us", "combine.time_us", "dispatch.nvlink_util.mean", "overlap.layer_us"} {
		if _, ok := fa[must]; !ok {
			t.Fatalf("%s missing from the run's JSON", must)
		}
	}
	if checked < 50 {
		t.Fatalf("checked %d ratios, want every figure (50 or more)", checked)
	}
	code, table, _ := cli("compare", a, b)
	if code != 0 || !regexp.MustCompile(`cluster\.preset \|\s+h800 \|\s+h200`).MatchString(table) || !strings.Contains(table, "B/A") {
		t.Fatalf("compare table: exit %d:\n%.2000s", code, table)
	}
	if code, _, stderr := cli("compare", a); code != 2 || !strings.Contains(stderr, "two or more run files") {
		t.Errorf("compare of one file: exit %d, %q", code, stderr)
	}
}
