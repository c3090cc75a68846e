package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/moesim/moesim/scenarios"
	"github.com/moesim/moesim/scenarios/report"
)

// writePlan writes a plan file into a temporary folder.
func writePlan(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "plan.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// smallPlan runs the decode preset (18 nodes, hook-mode low-latency
// kernels, two micro-batches) over four NICs. In hook mode the kernels only
// issue (kernels_us does not move with the NIC); what the NIC moves is the
// communication the other micro-batch does not hide. The limit of 100 µs
// splits the space with a wide margin on each side (about 1,200 and 240 µs
// exposed at 12.5 and 25 GB/s, about 25 and 0 at 50 and 100), and the first
// wave's point (50 GB/s) is feasible, so 25 GB/s fails and prunes 12.5.
const smallPlan = `name: small
base:
  preset: deepseek-v3-decode
  set:
    workload.tokens_per_gpu: 64
space:
  cluster.nic_GBps: [12.5, 25, 50, 100]
constraints:
  - overlap.exposed_comm_us <= 100
objective: minimize cost
figure: overlap.exposed_comm_us
monotone:
  cluster.nic_GBps: increasing
cost:
  gpu_hour: 2
  nic_hour: {by: cluster.nic_GBps, values: {12.5: 0.01, 25: 0.02, 50: 0.04, 100: 0.08}}
uncertainty: {off: true}
`

// A plan whose space holds one point gives the figures `moesim run` gives
// that point: the line it writes to --out is the run's JSON, byte for
// byte, and the report's figures are read from it.
func TestPlanSinglePointMatchesRun(t *testing.T) {
	plan := writePlan(t, strings.NewReplacer("[12.5, 25, 50, 100]", "[100]", "figure: overlap.exposed_comm_us", "figure: kernels_us").Replace(smallPlan))
	out := filepath.Join(filepath.Dir(plan), "points.jsonl")
	code, stdout, stderr := cli("plan", plan, "--out", out, "--format", "json")
	if code != 0 {
		t.Fatalf("plan: exit %d: %s", code, stderr)
	}
	code, runOut, stderr := cli("run", "--preset", "deepseek-v3-decode", "--set", "workload.tokens_per_gpu=64", "--set", "cluster.nic_GBps=100", "--format", "json")
	if code != 0 {
		t.Fatalf("run: exit %d: %s", code, stderr)
	}
	var line struct{ Result json.RawMessage }
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &line); err != nil {
		t.Fatal(err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, []byte(runOut)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(line.Result, compact.Bytes()) {
		t.Fatalf("the plan's point differs from moesim run of it:\nplan %.300s\nrun  %.300s", line.Result, compact.Bytes())
	}
	var res struct {
		Dispatch, Combine struct {
			TimeUs float64 `json:"time_us"`
		}
	}
	if err := json.Unmarshal([]byte(runOut), &res); err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Recommended struct{ Figures map[string]float64 }
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if got, want := rep.Recommended.Figures["kernels_us"], res.Dispatch.TimeUs+res.Combine.TimeUs; got != want {
		t.Fatalf("plan's kernels_us = %v, run's dispatch + combine = %v", got, want)
	}
	if got := rep.Recommended.Figures["cost"]; math.Abs(got-144*2.08) > 1e-9 {
		t.Fatalf("cost = %v, want 144 GPUs × (2 + 0.08)", got)
	}
}

// Bad plan files exit 2 naming the field, and write nothing.
func TestPlanBadFileExits2(t *testing.T) {
	for _, c := range []struct{ edit, want string }{
		{"overlap.exposed_comm_us <= 100", "constraints[0]: field overlap.exposed: no such numeric result field"},
		{"figure: overlap.exposed_comm_us", "figure: field kernel_us"},
		{"cluster.nic_GBps: [12.5, 25, 50, 100]", "space cluster.nic: no such field"},
		{"25: 0.02, ", "cost.nic_hour: no price for cluster.nic_GBps = 25"},
		{"workload.tokens_per_gpu: 64", "workload.tokens_per_gpu"},
	} {
		bad := map[string]string{
			"overlap.exposed_comm_us <= 100":        "overlap.exposed <= 100",
			"figure: overlap.exposed_comm_us":       "figure: kernel_us",
			"cluster.nic_GBps: [12.5, 25, 50, 100]": "cluster.nic: [12.5, 25, 50, 100]",
			"25: 0.02, ":                            "",
			"workload.tokens_per_gpu: 64":           "workload.tokens_per_gpu: -5",
		}[c.edit]
		plan := writePlan(t, strings.Replace(smallPlan, c.edit, bad, 1))
		rep := filepath.Join(filepath.Dir(plan), "report.txt")
		out := filepath.Join(filepath.Dir(plan), "points.jsonl")
		code, _, stderr := cli("plan", plan, "--report", rep, "--out", out)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("%s -> %s: exit %d, stderr %q; want 2 and %q", c.edit, bad, code, stderr, c.want)
		}
		for _, f := range []string{rep, out} {
			if _, err := os.Stat(f); err == nil {
				t.Errorf("%s: %s written for a bad plan", c.edit, f)
			}
		}
	}
	if code, _, stderr := cli("plan", "--example", "nope"); code != 2 || !strings.Contains(stderr, "v3-train-nic") {
		t.Errorf("--example nope: exit %d, %q; want 2 listing the examples", code, stderr)
	}
}

// A plan's --out file renders with moesim report, and --from evaluates it
// to the same report without running anything.
func TestPlanOutThenFrom(t *testing.T) {
	plan := writePlan(t, smallPlan)
	out := filepath.Join(filepath.Dir(plan), "points.jsonl")
	code, first, stderr := cli("plan", plan, "--out", out, "--format", "markdown")
	if code != 0 {
		t.Fatalf("plan: exit %d: %s", code, stderr)
	}
	if !strings.Contains(first, "#### Pareto front") || !regexp.MustCompile(`\| recommended +\| cluster\.nic_GBps=50 +\|`).MatchString(first) {
		t.Fatalf("plan report lacks the front or the recommendation (50 GB/s, the cheapest point that hides enough):\n%s", first)
	}
	if !strings.Contains(first, "1 pruned (monotone)") {
		t.Fatalf("plan report prunes nothing: --from is not tested on pruned points:\n%s", first)
	}
	code, again, stderr := cli("plan", plan, "--from", out, "--format", "markdown")
	if code != 0 {
		t.Fatalf("plan --from: exit %d: %s", code, stderr)
	}
	norm := func(s string) string { // the counts of points run and reused differ
		i := strings.Index(s, "points run")
		j := strings.Index(s, " reused")
		return s[:i-3] + s[j:]
	}
	if norm(first) != norm(again) {
		t.Fatalf("--from gives another report:\n%s\n---\n%s", first, again)
	}
	if code, _, stderr := cli("report", out); code != 0 {
		t.Fatalf("moesim report of the plan's points: exit %d: %s", code, stderr)
	}
	// The same file again without --resume is refused; with it nothing reruns.
	if code, _, _ := cli("plan", plan, "--out", out); code != 2 {
		t.Fatalf("plan onto a full --out without --resume: exit %d, want 2", code)
	}
	code, _, stderr = cli("plan", plan, "--out", out, "--resume")
	if code != 0 || !strings.Contains(stderr, " 0 run, ") {
		t.Fatalf("plan --resume of a finished file: exit %d, %q; want nothing run", code, stderr)
	}
}

// The HTML report holds the Pareto plot, the heat map and the
// recommended scenario as YAML that decodes to the recommended point.
func TestPlanHTML(t *testing.T) {
	plan := writePlan(t, strings.Replace(smallPlan, "space:\n", "space:\n  kernel.ll_rdma_only: [false, true]\n", 1))
	code, page, stderr := cli("plan", plan, "--format", "html")
	if code != 0 {
		t.Fatalf("plan: exit %d: %s", code, stderr)
	}
	for _, want := range []string{"<h3>Pareto front", "<strong>Pareto front.</strong>", "<svg", "<strong>Feasible region.</strong>", "Recommended scenario"} {
		if !strings.Contains(page, want) {
			t.Errorf("the HTML lacks %q", want)
		}
	}
	i := strings.Index(page, "<pre>")
	j := strings.Index(page, "</pre>")
	yml := strings.NewReplacer("&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(page[i+5 : j])
	s, err := scenarios.Decode(strings.NewReader(yml))
	if err != nil {
		t.Fatalf("the recommended scenario does not decode: %v", err)
	}
	if s.Cluster.NICGBps == 0 || s.Workload.TokensPerGPU != 64 {
		t.Fatalf("recommended scenario: nic %v, tokens %d", s.Cluster.NICGBps, s.Workload.TokensPerGPU)
	}
	_ = report.Formats
}
