package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// small keeps CLI tests fast: the intranode preset at a tenth of the batch.
var small = []string{"--preset", "deepep-intranode-ep8", "--set", "workload.tokens_per_gpu=256", "--set", "kernel.num_sms=8"}

func TestRunPrintsATableAndIsDeterministic(t *testing.T) {
	code, out, errs := runCLI(append([]string{"run"}, small...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"dispatch", "combine", "bottleneck", "seed 42"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	_, again, _ := runCLI(append([]string{"run"}, small...)...)
	if again != out {
		t.Error("two runs of the same scenario printed different bytes")
	}
}

func TestRunJSONCarriesTheContractFields(t *testing.T) {
	code, out, errs := runCLI(append([]string{"run", "--format", "json"}, small...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var m map[string]map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatal(err)
	}
	for _, sec := range []string{"dispatch", "combine"} {
		for _, f := range []string{"time_us", "rdma_GBps", "nvl_GBps", "bottleneck"} {
			if _, ok := m[sec][f]; !ok {
				t.Errorf("JSON lacks %s.%s", sec, f)
			}
		}
	}
	for _, f := range []string{"layer_us", "hidden_fraction", "exposed_comm_us"} {
		if _, ok := m["overlap"][f]; !ok {
			t.Errorf("JSON lacks overlap.%s", f)
		}
	}
}

func TestBadInputExitsTwoAndNamesTheField(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--set", "kernel.num_sms=7"}, "kernel.num_sms = 7"},
		{[]string{"run", "--set", "cluster.nodez=2"}, "cluster.nodez"},
		{[]string{"run", "--set", "workload.routing=zipf"}, `workload.routing = "zipf"`},
		{[]string{"run", "--preset", "nope"}, `preset "nope"`},
		{[]string{"run", "--format", "yaml", "--preset", "deepep-intranode-ep8", "--set", "workload.tokens_per_gpu=64"}, `--format = "yaml"`},
		{[]string{"run", "--bogus"}, "bogus"},
		{[]string{"frobnicate"}, "unknown command"},
		{[]string{"tune", "--sms", "10..4"}, "--sms"},
	} {
		code, _, errs := runCLI(tc.args...)
		if code != 2 || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, errs, tc.want)
		}
	}
}

func TestBadScenarioFileNamesTheField(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "s.yaml")
	if err := os.WriteFile(f, []byte("cluster:\n  preset: h800\n  nodes: 2\n  nvlink_gbps: 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errs := runCLI("run", "--scenario", f)
	if code != 2 || !strings.Contains(errs, "nvlink_gbps") {
		t.Fatalf("exit %d, stderr %q; want 2 naming the unknown field nvlink_gbps", code, errs)
	}
}

func TestFailedRunLeavesGoodOutputInPlace(t *testing.T) {
	out := filepath.Join(t.TempDir(), "report.txt")
	if err := os.WriteFile(out, []byte("good"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, _ := runCLI("run", "--out", out, "--set", "kernel.num_sms=3")
	if code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	if b, _ := os.ReadFile(out); string(b) != "good" {
		t.Fatalf("output replaced by %q", b)
	}
	code, _, errs := runCLI(append([]string{"run", "--out", out}, small...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if b, _ := os.ReadFile(out); !strings.Contains(string(b), "dispatch") {
		t.Fatalf("report not written: %q", b)
	}
}

func TestPresetsShowRoundTrips(t *testing.T) {
	code, out, errs := runCLI("presets", "show", "deepseek-v3-train")
	if code != 0 || !strings.Contains(out, "num_sms: 20") {
		t.Fatalf("exit %d, %q %q", code, out, errs)
	}
	f := filepath.Join(t.TempDir(), "mine.yaml")
	if err := os.WriteFile(f, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errs = runCLI("run", "--scenario", f, "--set", "workload.tokens_per_gpu=64", "--set", "cluster.nodes=4", "--format", "csv")
	if code != 0 {
		t.Fatalf("a shown preset does not run as a scenario file: exit %d %s", code, errs)
	}
}

// TestV1LimitRefusedUnlessExtrapolating: a normal-mode scenario DeepEP V1
// cannot run exits 2 naming the limit and DeepEP's constant; with
// kernel.extrapolate it runs and its JSON says so.
func TestV1LimitRefusedUnlessExtrapolating(t *testing.T) {
	beyond := append(append([]string(nil), small...), "--set", "cluster.gpus_per_node=16")
	code, _, errs := runCLI(append([]string{"run"}, beyond...)...)
	if code != 2 || !strings.Contains(errs, "NUM_MAX_NVL_PEERS = 8") || !strings.Contains(errs, "cluster.gpus_per_node = 16") {
		t.Fatalf("exit %d, stderr %q; want 2 naming cluster.gpus_per_node and NUM_MAX_NVL_PEERS = 8", code, errs)
	}
	code, _, errs = runCLI("run", "--preset", "deepep-internode-ep16", "--set", "workload.tokens_per_gpu=64",
		"--set", "cluster.nodes=5", "--set", "model.experts=320")
	if code != 2 || !strings.Contains(errs, "SWITCH_RDMA_RANKS") {
		t.Fatalf("5 nodes: exit %d, stderr %q; want 2 naming SWITCH_RDMA_RANKS", code, errs)
	}
	code, out, errs := runCLI(append([]string{"run", "--format", "json", "--set", "kernel.extrapolate=true"}, beyond...)...)
	if code != 0 {
		t.Fatalf("with kernel.extrapolate: exit %d: %s", code, errs)
	}
	var m struct {
		Dispatch struct {
			Extrapolated bool   `json:"extrapolated"`
			Reason       string `json:"extrapolation_reason"`
		} `json:"dispatch"`
	}
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatal(err)
	}
	if !m.Dispatch.Extrapolated || !strings.Contains(m.Dispatch.Reason, "NUM_MAX_NVL_PEERS") {
		t.Errorf("dispatch.extrapolated = %v, reason %q; want true naming NUM_MAX_NVL_PEERS", m.Dispatch.Extrapolated, m.Dispatch.Reason)
	}
	_, out, _ = runCLI(append([]string{"run", "--format", "json"}, small...)...)
	if strings.Contains(out, `"extrapolated": true`) {
		t.Error("a run within DeepEP V1's limits is flagged as an extrapolation")
	}
}
