package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moesim/moesim/scenarios"
	"github.com/moesim/moesim/scenarios/workload"
)

// Repros of issue 18, one test per item (items 3 and 10 are in
// scenarios/report, 13 in scenarios/validate, 14 in docs_test.go).

// traceCSV writes a routing trace of tokens tokens, each picking 8
// distinct experts of 256; shift changes the choice.
func traceCSV(t *testing.T, path string, tokens, shift int) {
	t.Helper()
	var b strings.Builder
	for i := range tokens {
		for k := range 8 {
			if k > 0 {
				b.WriteByte(',')
			}
			fmt.Fprint(&b, (i*7+k*32+shift)%256)
		}
		b.WriteByte('\n')
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func runJSON(t *testing.T, args ...string) map[string]any {
	t.Helper()
	code, out, errs := cli(append(append([]string{"run"}, args...), "--format", "json")...)
	if code != 0 {
		t.Fatalf("%v: exit %d: %s", args, code, errs)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func field(m map[string]any, path string) any {
	var v any = m
	for _, k := range strings.Split(path, ".") {
		v = v.(map[string]any)[k]
	}
	return v
}

// Item 1: a trace of 64 tokens on 8 GPUs is 8 tokens per GPU for the
// compute model, the header and the JSON, not tokens_per_gpu's 4096; an
// explicit tokens_per_gpu that disagrees with the trace is refused.
func TestItem1TraceSetsTokensPerGPU(t *testing.T) {
	tr := filepath.Join(t.TempDir(), "r.csv")
	traceCSV(t, tr, 64, 0)
	base := []string{"--preset", "deepep-intranode-ep8", "--set", "workload.routing=trace", "--trace-routing", tr}
	m := runJSON(t, append(base, "--set", "workload.tokens_per_gpu=0")...)
	if got := field(m, "scenario.workload.tokens_per_gpu"); got != 8.0 {
		t.Fatalf("scenario.workload.tokens_per_gpu = %v, want the trace's 8", got)
	}
	gen := runJSON(t, "--preset", "deepep-intranode-ep8", "--set", "workload.tokens_per_gpu=8")
	if a, b := field(m, "compute.attn_fwd_us"), field(gen, "compute.attn_fwd_us"); a != b {
		t.Errorf("attention with the 8-token trace takes %v µs, with 8 generated tokens %v µs", a, b)
	}
	_, table, _ := cli(append(append([]string{"run"}, base...), "--set", "workload.tokens_per_gpu=0")...)
	if !strings.Contains(table, " 8 tokens/GPU") {
		t.Errorf("header does not say 8 tokens/GPU:\n%s", table)
	}
	code, _, errs := cli(append([]string{"run"}, base...)...) // the preset says 4096
	if code != 2 || !strings.Contains(errs, "workload.tokens_per_gpu = 4096") || !strings.Contains(errs, "8 tokens per GPU") {
		t.Errorf("tokens_per_gpu 4096 with an 8-per-GPU trace: exit %d, %s", code, errs)
	}
}

// Item 2: the run id covers the trace's bytes and the hardware file's, so
// sweep --resume refuses a file started with another trace.
func TestItem2RunIDCoversInputFiles(t *testing.T) {
	dir := t.TempDir()
	tr := filepath.Join(dir, "r.csv")
	args := []string{"--preset", "deepep-intranode-ep8", "--set", "workload.routing=trace", "--set", "workload.tokens_per_gpu=0", "--trace-routing", tr}
	ids := map[string]bool{}
	for _, shift := range []int{0, 1, 2} {
		traceCSV(t, tr, 64, shift)
		ids[field(runJSON(t, args...), "meta.run_id").(string)] = true
	}
	if len(ids) != 3 {
		t.Errorf("three traces at one path gave %d run ids, want 3", len(ids))
	}
	traceCSV(t, tr, 64, 0)
	a, b := field(runJSON(t, args...), "meta.run_id"), field(runJSON(t, args...), "meta.run_id")
	if a != b {
		t.Errorf("the same trace gave run ids %v and %v", a, b)
	}

	out := filepath.Join(dir, "s.jsonl")
	sw := append([]string{"sweep", "--vary", "kernel.num_sms=4,8", "--out", out}, args...)
	if code, _, errs := cli(sw...); code != 0 {
		t.Fatalf("sweep: %d %s", code, errs)
	}
	traceCSV(t, tr, 64, 5)
	code, _, errs := cli(append(sw, "--resume")...)
	if code != 2 || !strings.Contains(errs, "routing trace") {
		t.Errorf("resume with a changed trace: exit %d, %s; want 2 saying an input file differs", code, errs)
	}

	// A hardware file that differs only in a comment is another input.
	hw := filepath.Join(dir, "hw.yaml")
	if code, _, errs := cli("calibrate", "../../topology/profiles/h200.json", "--out", hw); code != 0 {
		t.Fatalf("calibrate: %s", errs)
	}
	scen := filepath.Join(dir, "s.yaml")
	os.WriteFile(scen, []byte("cluster: {hardware_file: hw.yaml}\nworkload: {tokens_per_gpu: 64}\nkernel: {num_sms: 8}\n"), 0o644)
	id1 := field(runJSON(t, "--scenario", scen), "meta.run_id")
	data, _ := os.ReadFile(hw)
	os.WriteFile(hw, append(data, "# another comment\n"...), 0o644)
	if id2 := field(runJSON(t, "--scenario", scen), "meta.run_id"); id1 == id2 {
		t.Error("two different hardware files gave the same run id")
	}
}

// Item 4: --out never replaces a symlink, a named pipe, a device or a
// directory (exit 2, nothing written), and replaces a regular file
// atomically, keeping its permissions.
func TestItem4OutOnlyReplacesRegularFiles(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target.txt")
	os.WriteFile(target, []byte("keep"), 0o644)
	link := filepath.Join(dir, "link.txt")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o755)
	for path, kind := range map[string]string{link: "a symbolic link", fifo: "a named pipe", sub: "a directory", "/dev/null": "a device"} {
		for _, args := range [][]string{
			append([]string{"run", "--out", path}, small...),
			append([]string{"run", "--trace", path}, small...),
			{"sweep", "--vary", "kernel.num_sms=4,8", "--out", path},
			{"presets", "show", "h800"},
		} {
			if args[0] == "presets" {
				continue
			}
			before, _ := os.Lstat(path)
			code, stdout, errs := cli(args...)
			if code != 2 || !strings.Contains(errs, path+" is "+kind) || stdout != "" {
				t.Errorf("%v: exit %d, %q; want 2 saying %s is %s", args, code, errs, path, kind)
			}
			if after, _ := os.Lstat(path); after.Mode() != before.Mode() {
				t.Errorf("%v changed %s from %v to %v", args, path, before.Mode(), after.Mode())
			}
		}
	}
	if data, _ := os.ReadFile(target); string(data) != "keep" {
		t.Errorf("the symlink's target now holds %q", data)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 4 {
		t.Errorf("%d entries in the folder, want the 4 made (no temporary files left)", len(ents))
	}
	reg := filepath.Join(dir, "report.txt")
	os.WriteFile(reg, []byte("old"), 0o600)
	if code, _, errs := cli(append([]string{"run", "--out", reg}, small...)...); code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	st, _ := os.Stat(reg)
	data, _ := os.ReadFile(reg)
	if st.Mode().Perm() != 0o600 || !strings.Contains(string(data), "dispatch") {
		t.Errorf("report.txt: mode %v, %d bytes; want the report with mode 0600 kept", st.Mode(), len(data))
	}
}

// Item 5: every input file is read with a bound: a device or an oversized
// file is refused at once, with exit 2.
func TestItem5InputReadsAreBounded(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yaml")
	os.WriteFile(big, bytes.Repeat([]byte("# padding\n"), scenarios.MaxScenarioBytes/10+1), 0o644)
	hugeTrace := filepath.Join(dir, "huge.npy")
	f, _ := os.Create(hugeTrace)
	if err := f.Truncate(workload.MaxTraceFileBytes + 1); err != nil { // sparse
		t.Fatal(err)
	}
	f.Close()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--scenario", "/dev/zero"}, "/dev/zero is not a regular file"},
		{[]string{"run", "--scenario", big}, fmt.Sprintf("larger than %d bytes", scenarios.MaxScenarioBytes)},
		{append([]string{"run", "--trace-routing", "/dev/zero", "--set", "workload.routing=trace"}, small...), "/dev/zero is not a regular file"},
		{append([]string{"run", "--trace-routing", hugeTrace, "--set", "workload.routing=trace"}, small...), fmt.Sprintf("larger than %d bytes", int64(workload.MaxTraceFileBytes))},
		{[]string{"report", "/dev/zero"}, "/dev/zero is not a regular file"},
		{append([]string{"run", "--set", "cluster.hardware_file=/dev/zero"}, small...), "/dev/zero is not a regular file"},
	} {
		start := time.Now()
		code, _, errs := cli(tc.args...)
		if code != 2 || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", tc.args, code, errs, tc.want)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%v took %v to refuse", tc.args, d)
		}
	}
}

// Items 6, 7, 8, 11 and 15 (model.layers): numbers go through one strict
// path, every field is checked at load, and the message names the field
// and the value as typed (exit 2, never a panic or exit 1).
func TestItems6to8And11StrictNumbersAtLoad(t *testing.T) {
	for _, tc := range []struct {
		set  string
		want string
	}{
		{"cluster.sm_copy_GBps=1e-12", "cluster.sm_copy_GBps = 1e-12, want 0.1..10000 GB/s"},
		{"compute.efficiency=1e-300", "compute.efficiency = 1e-300, want 0.001..1"},
		{"cluster.nvlink_GBps=1e-300", "cluster.nvlink_GBps = 1e-300"},
		{"workload.tokens_per_gpu=1.5", `workload.tokens_per_gpu = "1.5", want an integer`},
		{"kernel.num_sms=", "kernel.num_sms is empty"},
		{"name=", "name is empty"},
		{"model.heads=-1", "model.heads = -1, want 1..1024"},
		{"model.seq_len=0.5", `model.seq_len = "0.5"`},
		{"model.layers=-1", "model.layers = -1, want 1..1024"},
		{"seed=-1", `seed = "-1", want an integer in 0..18446744073709551615`},
		{"cluster.nic_GBps=-5", "cluster.nic_GBps = -5, want 0.1..100000 GB/s"},
		{"cluster.sms=3", "cluster.sms = 3, want 4..1024"},
		{"compute.efficiency=.inf", `compute.efficiency = ".inf", want a finite decimal number`},
		{"workload.hot_rank_factor=1e300", "workload.hot_rank_factor = 1e+300"},
		{"kernel.extrapolate=yes", `kernel.extrapolate = "yes", want true or false`},
		{"kernel.dispatch.nvl_chunk=5000", "kernel.dispatch.nvl_chunk = 5000, want 1..4096"},
		// In range one by one, beyond the engine's time range together.
		{"compute.efficiency=0.001", "beyond the"},
	} {
		args := append(append([]string{"run"}, small...), "--set", tc.set)
		if strings.HasPrefix(tc.want, "beyond") {
			args = append(args, "--set", "model.seq_len=1048576", "--set", "cluster.fp8_TFLOPS=0.1", "--set", "cluster.bf16_TFLOPS=0.1", "--set", "model.heads=1024")
		}
		code, out, errs := cli(args...)
		if code != 2 || !strings.Contains(errs, tc.want) || out != "" {
			t.Errorf("--set %s: exit %d, %q; want 2 and %q", tc.set, code, errs, tc.want)
		}
	}
	dir := t.TempDir()
	f := filepath.Join(dir, "s.yaml")
	os.WriteFile(f, []byte("cluster:\n  nodez: 2\n"), 0o644)
	code, _, errs := cli("run", "--scenario", f)
	if code != 2 || !strings.Contains(errs, "line 2: cluster.nodez: no such field") || strings.Contains(errs, "scenarios.Cluster") {
		t.Errorf("unknown key: exit %d, %q; want 2 naming cluster.nodez and its line, not a Go type", code, errs)
	}
	// A sweep with a bad value fails before it writes anything.
	out := filepath.Join(dir, "s.jsonl")
	code, _, errs = cli(append([]string{"sweep", "--vary", "model.heads=128,-1", "--out", out}, small...)...)
	if _, err := os.Stat(out); code != 2 || !strings.Contains(errs, "model.heads = -1") || err == nil {
		t.Errorf("sweep with model.heads=-1: exit %d, %q, file written: %v; want 2 at load and no file", code, errs, err == nil)
	}
}

// Item 9: a sweep resumed with more values keys its points by value: the
// report lists each value once, in order, and plots over kernel.num_sms.
func TestItem9ResumeKeyedByValue(t *testing.T) {
	out := filepath.Join(t.TempDir(), "s.jsonl")
	base := append([]string{"sweep", "--out", out}, small[:4]...)
	if code, _, errs := cli(append(base, "--vary", "kernel.num_sms=16,24")...); code != 0 {
		t.Fatal(errs)
	}
	if code, _, errs := cli(append(base, "--vary", "kernel.num_sms=4,8,16,24", "--resume")...); code != 0 || !strings.Contains(errs, "2 points run, 2 already there") {
		t.Fatalf("resume: %d %s", code, errs)
	}
	code, csv, errs := cli("report", out, "--format", "csv")
	if code != 0 {
		t.Fatal(errs)
	}
	lines := strings.Split(strings.TrimSpace(csv), "\n")[1:]
	var got []string
	for _, l := range lines {
		c := strings.Split(l, ",")
		got = append(got, c[0]+":"+c[1])
	}
	if want := []string{"0:4", "1:8", "2:16", "3:24"}; !slices.Equal(got, want) {
		t.Errorf("points (index:num_sms) = %v, want %v", got, want)
	}
	_, html, _ := cli("report", out, "--format", "html")
	if strings.Count(html, ">kernel.num_sms</text>") < 2 {
		t.Error("the per-point plots do not put kernel.num_sms on the x axis")
	}
}

// Item 10 (the command's side): a cut trace warns on stderr.
func TestItem10CutTraceWarns(t *testing.T) {
	tr := filepath.Join(t.TempDir(), "t.json")
	code, _, errs := cli(append([]string{"run", "--trace", tr, "--trace-max-events", "100"}, small...)...)
	if code != 0 || !strings.Contains(errs, "warning: --trace "+tr+" is cut: dispatch: kept the first 50 of") || !strings.Contains(errs, "combine: kept the first 50") {
		t.Errorf("exit %d, stderr %q; want a warning naming what each kernel lost", code, errs)
	}
}

// Item 12: workload.trace_file is read from the scenario file's folder.
func TestItem12TraceFileFromScenarioFolder(t *testing.T) {
	dir := t.TempDir()
	traceCSV(t, filepath.Join(dir, "r.csv"), 64, 0)
	s := filepath.Join(dir, "s.yaml")
	os.WriteFile(s, []byte("cluster: {nodes: 1}\nworkload: {routing: trace, trace_file: r.csv}\nkernel: {num_sms: 8}\n"), 0o644)
	m := runJSON(t, "--scenario", s)
	if field(m, "routing.tokens") != 64.0 {
		t.Errorf("routing.tokens = %v, want the trace's 64", field(m, "routing.tokens"))
	}
}

// Item 15: Ctrl-C during a sweep writes the points in flight and says
// how to resume (exit 130), instead of exit 1 with nothing kept.
func TestItem15InterruptedSweepKeepsPointsInFlight(t *testing.T) {
	out := filepath.Join(t.TempDir(), "s.jsonl")
	job, err := parseSweep(append([]string{"--vary", "kernel.num_sms=4,8,12,16", "--jobs", "2", "--out", out}, small...), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	err = job.run(ctx, io.Discard, func(n int) error {
		cancel() // Ctrl-C as the first point is written
		return nil
	})
	var intr interrupted
	if !errors.As(err, &intr) || !strings.Contains(err.Error(), "--resume") {
		t.Fatalf("err = %v, want an interruption with a hint to --resume", err)
	}
	n := len(sortedLines(t, out))
	if n < 2 || n > 4 {
		t.Errorf("%d points written; want the first and the one in flight beside it", n)
	}
	commands["interrupt-test"] = command{"", func([]string, io.Writer, io.Writer) error { return err }}
	defer delete(commands, "interrupt-test")
	if code, _, _ := cli("interrupt-test"); code != 130 {
		t.Errorf("exit %d, want 130", code)
	}
	if code, _, errs := cli(append([]string{"sweep", "--vary", "kernel.num_sms=4,8,12,16", "--out", out, "--resume"}, small...)...); code != 0 || len(sortedLines(t, out)) != 4 {
		t.Errorf("resume: exit %d %s", code, errs)
	}
}
